"""A tiny HTTP file server on 127.0.0.1 for download tests (no traffic leaves the machine)."""
import http.server
import re
import threading
import urllib.parse


class FileServer:
    """A tiny HTTP server in a thread: serves `files` by path; paths in `truncate` send half the bytes.

    `routes` fake an API: (method, path regex, handler) entries, tried before `files`; a handler gets
    (match, query dict, headers, body bytes) and returns (status, content type, body bytes).
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.requests: list[str] = []
        self.routes: list = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                if self._route("GET"):
                    return
                data = owner.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2] if self.path in owner.truncate else data)
                self.close_connection = True

            def do_POST(self):
                owner.requests.append(f"POST {self.path}")
                if not self._route("POST"):
                    self.send_error(404)

            def do_PUT(self):
                owner.requests.append(f"PUT {self.path}")
                if not self._route("PUT"):
                    self.send_error(404)

            def _route(self, method: str) -> bool:
                url = urllib.parse.urlsplit(self.path)
                for verb, pattern, handler in owner.routes:
                    match = re.fullmatch(pattern, url.path) if verb == method else None
                    if match:
                        query = dict(urllib.parse.parse_qsl(url.query))
                        self._reply(*handler(match, query, self.headers, self._body()))
                        return True
                return False

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                        if size == 0:
                            return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, status: int, content_type: str, body: bytes):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
