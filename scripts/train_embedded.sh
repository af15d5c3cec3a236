#!/usr/bin/env bash
# Reproduce the embedded models of weights/ from scratch: train, export (fp16), evaluate into the card,
# update weights/manifest.json. Runs live in runs/NAME; running the script again continues them
# (--continue: exact resume from the last checkpoint).
#
#   bash scripts/train_embedded.sh [MODEL ...]      default: every model below, one after the other
#   THREADS=2 bash scripts/train_embedded.sh sketch2catface
#   DEVICE=cuda FULL=1 bash scripts/train_embedded.sh sketch2catface   full-size version on a GPU
#
# MODEL: sketch2catface sketch2catface_coats studio_facades colorize (the five colorizers) colorize_classification colorize_samples
#        catcoats studio_monet2photo studio_horse2zebra
# CPU recipes are sized for this project's 2-core machine (each model card gives the measured time);
# FULL=1 switches to the papers' sizes (256 px, ngf 64, the reference's epoch schedule).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
SHARED=${I2I_SHARED:-../shared}
DATA=$SHARED/datasets
DEVICE=${DEVICE:-cpu}
export OMP_NUM_THREADS=${THREADS:-1}
COMMON=(--device "$DEVICE" --checkpoints_dir runs --num_workers 1 --quiet --save_every 500 --log_every 50)

if [ "${FULL:-0}" = 1 ]; then
  SIZE=(--load_size 286 --crop_size 256); NET128=unet_256; NGF=64; NDF=64; STEPS=()
else
  SIZE=(--load_size 142 --crop_size 128); NET128=unet_128; NGF=""; NDF=32; STEPS=(yes)
fi

# train NAME MAX_STEPS FLAGS...: train (or continue) runs/NAME; MAX_STEPS is ignored with FULL=1
train() {
  local name=$1 steps=$2; shift 2
  local resume=(); [ -f "runs/$name/state.pt" ] && resume=(--continue)
  local limit=(); [ ${#STEPS[@]} -gt 0 ] && limit=(--max_steps "$steps")
  echo "== training $name"
  $PY -m engine train --name "$name" "${COMMON[@]}" "${limit[@]}" "${resume[@]}" "$@"
  # a run stopped early (Ctrl+C, SIGTERM, the machine going away) also exits 0: never publish it
  if [ ${#STEPS[@]} -gt 0 ] && [ "$(last_step "$name")" -lt "$steps" ]; then
    echo "runs/$name stopped at step $(last_step "$name") of $steps: not published; run this again to continue" >&2
    exit 3
  fi
}

last_step() {   # the last logged step of runs/NAME (0 if none)
  $PY -c "import json, sys; lines = open(sys.argv[1]).read().splitlines(); print(json.loads(lines[-1])['step'] if lines else 0)" \
      "runs/$1/metrics.jsonl" 2>/dev/null || echo 0
}

# publish NAME DATAROOT [EXPORT FLAGS...]: fp16 export to weights/NAME, card metrics, manifest entry
publish() {
  local name=$1 dataroot=$2; shift 2
  $PY -m engine export "runs/$name/model" --out "weights/$name" --half "$@"
  $PY -m engine evaluate --model_dir "weights/$name" --dataroot "$dataroot" --phase val --write_card \
      --size "$($PY -c "import json; print(json.load(open('weights/$name/config.json'))['crop_size'])")"
  $PY -c "from engine.zoo import add_to_manifest; add_to_manifest('weights/$name')"
}

# sketch_cat NAME DESCRIPTION [FLAGS...]: a Sketch tab cat model (drawn-style sketches of catfaces/train,
# half of them with a drawn head outline)
sketch_cat() {
  local name=$1 description=$2; shift 2
  train "$name" 14000 --dataroot "$DATA/catfaces/train" --derive drawn --sketch_outline 0.5 --netG "$NET128" \
      --ngf "${NGF:-32}" --ndf "$NDF" --upsample nearest --ema_decay 0.999 --batch_size 4 "${SIZE[@]}" \
      --sample_every 1000 "$@" --description "$description"
  publish "$name" "$DATA/catfaces" --no_discriminators
}

sketch2catface() {
  sketch_cat sketch2catface "Drawing -> cat-face photo (drawn-style sketches of catfaces/train: random detail, stroke width, dropped strokes, TPS warps, half of them with a drawn head outline)."
}

# the same told each photo's coat (catfaces' coats.csv) as a class input, with reflect padding in the U-Net:
# the Sketch tab's coat picker; evaluated with no coat (its own choice) and with each val photo's own coat
sketch2catface_coats() {
  sketch_cat sketch2catface_coats "Drawing + coat -> cat-face photo: the coat (black, ginger, grey tabby, white, or none: the model's choice) is a class input, reflect padding in the U-Net (drawn-style sketches of catfaces/train, half of them with a drawn head outline)." \
      --unet_padding reflect --labels_csv coats.csv
  $PY -m engine evaluate --model_dir weights/sketch2catface_coats --dataroot "$DATA/catfaces" --phase val --classes \
      --write_card --size "$($PY -c "import json; print(json.load(open('weights/sketch2catface_coats/config.json'))['crop_size'])")"
}

studio_facades() {
  train studio_facades 8000 --dataroot "$DATA/facades" --direction BtoA --netG unet_256 --ngf "${NGF:-24}" \
      --ndf "$NDF" --upsample nearest --ema_decay 0.999 --load_size 286 --crop_size 256 --sample_every 1000 \
      --description "Facade label map -> photo (CMP Facades, BtoA), 256 px."
  publish studio_facades "$DATA/facades" --no_discriminators --input_kind labels
}

colorize() {
  $PY scripts/photo_mix.py --shared "$DATA" --out runs/data/photo_mix
  local mix=runs/data/photo_mix/train
  local what="Colorization (L -> ab) of landscapes, cats, cat faces, horses, zebras and facades"
  train colorize_l1 6000 --model colorization --dataroot "$mix" --netG "$NET128" --ngf "${NGF:-16}" \
      --ndf "$NDF" "${SIZE[@]}" --upsample nearest --ema_decay 0.999 --sample_every 2000 --netD none \
      --description "$what, L1 regression only: the blurry, desaturated mean."
  local d
  for d in "colorize_pixelgan pixel 3 1x1 PixelGAN" "colorize_patchgan16 n_layers 1 16x16 PatchGAN" \
           "colorize_patchgan70 basic 3 70x70 PatchGAN" "colorize_imagegan286 n_layers 5 286x286 ImageGAN"; do
    set -- $d
    train "$1" 6000 --model colorization --dataroot "$mix" --netG "$NET128" --ngf "${NGF:-16}" --ndf "$NDF" \
        "${SIZE[@]}" --upsample nearest --ema_decay 0.999 --sample_every 2000 --netD "$2" --n_layers_D "$3" \
        --description "$what, L1 + cGAN with a $4 $5 discriminator."
  done
  for d in colorize_l1 colorize_pixelgan colorize_patchgan16 colorize_patchgan70 colorize_imagegan286; do
    publish "$d" runs/data/photo_mix
  done
}

# Zhang et al.'s colorization as classification over ab bins, on the colorizers' photo mix and recipe; it needs twice
# their steps (at 6000 its distributions are still one broad bump around a warm grey)
colorize_classification() {
  $PY scripts/photo_mix.py --shared "$DATA" --out runs/data/photo_mix
  train colorize_classification 12000 --model colorization --colorization_loss classification \
      --dataroot runs/data/photo_mix/train --netG "$NET128" --ngf "${NGF:-16}" "${SIZE[@]}" --upsample nearest \
      --ema_decay 0.999 --sample_every 2000 --netD none \
      --description "Colorization (L -> ab) of landscapes, cats, cat faces, horses, zebras and facades as classification over ab bins (Zhang et al.): rebalanced cross-entropy, annealed-mean decoding at T 0.38."
  publish colorize_classification runs/data/photo_mix
}

# a colorizer with a noise input z and the mode-seeking term: several answers per photo, at the colorizers' 128 px
colorize_samples() {
  $PY scripts/photo_mix.py --shared "$DATA" --out runs/data/photo_mix
  train colorize_samples 3000 --model colorization --nz 8 --lambda_ms 1 --ms_pool 8 \
      --dataroot runs/data/photo_mix/train --netG "$NET128" --ngf "${NGF:-16}" --ndf "$NDF" "${SIZE[@]}" \
      --upsample bilinear --unet_padding reflect --ema_decay 0.999 --sample_every 1000 --netD basic \
      --description "Colorization (L -> ab) with a noise input: z (8 numbers) broadcast and concatenated to L, L1 x 100 + cGAN (70x70 PatchGAN) + mode seeking x 1 on 8x8 block means, bilinear resize-conv decoder with reflect padding, so one photo gets several colorings."
  publish colorize_samples runs/data/photo_mix --no_discriminators
  $PY -m engine diversity --model_dir weights/colorize_samples --dataroot runs/data/photo_mix --size 128
}

# StarGAN: one generator for the four coat colours of catfaces (coats.csv), judged by the coat classifier
catcoats() {
  local classifier=benchmarks/coat_classifier.safetensors
  [ -f "$classifier" ] || $PY -m engine train-classifier --dataroot "$DATA/catfaces" --out "$classifier"
  local flags=(--model stargan --dataroot "$DATA/catfaces" --netG resnet_6blocks --ngf "${NGF:-32}" \
      --norm instance --no_dropout --upsample nearest --ndf "${NGF:-16}" "${SIZE[@]}" --batch_size 4 --lr 0.0001 \
      --n_critic 2 --ema_decay 0.999 --save_every 250 --sample_every 500 \
      --description "Cat coat colour (black, ginger, grey/tabby, white) on aligned cat faces, one generator for all four (StarGAN).")
  # the paper's reconstruction weight (10) reaches the coats but round trips of 18.6 dB; a second stage
  # with reconstruction x 60 and a longer schedule brings them above 20 dB (the card has the history)
  train catcoats 6000 "${flags[@]}"
  train catcoats 10500 "${flags[@]}" --lambda_rec 60
  $PY -m engine export runs/catcoats/model --out weights/catcoats --half --no_discriminators
  $PY -m engine evaluate --model_dir weights/catcoats --dataroot "$DATA/catfaces" --classifier "$classifier" --write_card
  $PY -c "from engine.zoo import add_to_manifest; add_to_manifest('weights/catcoats', title='Cat coat colour (StarGAN, ours)', license='Trained by this project\\'s engine on catfaces/train (1598 aligned cat-face crops with coats.csv labels; research data, not redistributed). Weights: this project.')"
}

# cyclegan RUN NAME STEPS DATA DESCRIPTION: a small CycleGAN (resnet_6blocks, LSGAN), exported as weights/NAME
cyclegan() {   # cyclegan RUN NAME STEPS DATAROOT DESCRIPTION [EXTRA TRAIN FLAGS...]
  local run=$1 name=$2 steps=$3 data=$4 description=$5; shift 5
  train "$run" "$steps" --dataroot "$data" --model cycle_gan --netG resnet_6blocks --ngf "${NGF:-16}" \
      --ndf "$NDF" --norm instance --gan_mode lsgan --no_dropout "${SIZE[@]}" --sample_every 1000 \
      --description "$description" "$@"
  $PY -m engine export "runs/$run/model" --out "weights/$name" --half --no_discriminators --name "$name"
  $PY -c "from engine.zoo import add_to_manifest; add_to_manifest('weights/$name')"
}

studio_monet2photo() {
  cyclegan monet2photo studio_monet2photo 6000 "$DATA/monet2photo" "CycleGAN Monet painting <-> landscape photo (monet2photo)."
}

studio_horse2zebra() {
  # 45 epochs of the 600 horses, near the 50 where the reference's author sees zebras appear
  # (docs/quality.md): several sessions of one core; the run continues where it stopped
  cyclegan horse2zebra_nearest studio_horse2zebra 27000 "$DATA/horse2zebra" \
      "CycleGAN horse <-> zebra (horse2zebra), resize-conv decoder." --upsample nearest
}

MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(sketch2catface sketch2catface_coats studio_facades colorize colorize_classification colorize_samples
                                   catcoats studio_monet2photo studio_horse2zebra)
for model in "${MODELS[@]}"; do
  case "$model" in
    sketch2catface|sketch2catface_coats|studio_facades|colorize|colorize_classification|colorize_samples|catcoats|\
    studio_monet2photo|studio_horse2zebra) "$model" ;;
    *) echo "unknown model $model (known: sketch2catface sketch2catface_coats studio_facades colorize colorize_classification" \
            "colorize_samples catcoats studio_monet2photo studio_horse2zebra)" >&2
       exit 2 ;;
  esac
done
echo "done; sample sheets: python docs/make_sample_sheets.py"
