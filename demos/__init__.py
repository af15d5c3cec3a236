"""The studio's Gradio tabs: one module per tab, assembled by app.py.

- `sketch`: sketch -> photo on a drawing canvas, and facade labels -> photo
- `colorize`: colorization, comparing L1-only and PatchGAN discriminators of several patch sizes
- `style`: CycleGAN styles, both directions and the cycle reconstruction F(G(x))
- `coat`: StarGAN, a cat's face in every coat colour and the round trips back (`coat_images` does the image work)
- `train`: train a model in a separate process (`training` manages it, `train_worker` runs it)

`models` is the one place the tabs get their models from; `common` holds shared helpers.
Importing the package itself imports nothing heavy (the training worker imports only the engine).
"""
