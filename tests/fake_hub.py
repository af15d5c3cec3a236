"""The few Hugging Face Hub endpoints a Space deploy uses, served by tests/local_http.py on 127.0.0.1.

create repo, README metadata check, preupload (regular or LFS), the LFS batch API with basic PUT
transfers and verify, the recursive tree (for deletions), the NDJSON commit and Space variables.
Files are held in memory; nothing leaves the machine. Xet uploads are not faked: tests switch them off
(`huggingface_hub.constants.HF_HUB_DISABLE_XET`) so that large files take the LFS path.
"""
import base64
import hashlib
import json

from local_http import FileServer

REPO_ID = r"(?P<repo>[\w.-]+/[\w.-]+)"
LFS_THRESHOLD = 10 * 1000 * 1000   # the Hub's: larger files must go through LFS


def _json(data, status: int = 200):
    return status, "application/json", json.dumps(data).encode()


class FakeHub:
    """A Hub with Space repositories: `spaces[repo_id]` = {"files": {path: bytes}, "variables": {...}, ...}."""

    def __init__(self):
        self.server = FileServer()
        self.url = self.server.url
        self.spaces: dict[str, dict] = {}
        self.lfs_objects: dict[str, bytes] = {}   # oid -> bytes received by PUT
        self.upload_modes: dict[str, str] = {}    # path -> "lfs" | "regular", as answered by preupload
        self.commits: list[list[dict]] = []       # the NDJSON lines of each commit
        self.authorizations: set[str] = set()
        self.server.routes += [
            ("POST", r"/api/repos/create", self.create_repo),
            ("POST", r"/api/validate-yaml", lambda *a: _json({"errors": [], "warnings": []})),
            ("POST", rf"/api/spaces/{REPO_ID}/preupload/(?P<rev>[^/]+)", self.preupload),
            ("POST", rf"/spaces/{REPO_ID}\.git/info/lfs/objects/batch", self.lfs_batch),
            ("PUT", r"/lfs/(?P<oid>[0-9a-f]{64})", self.lfs_put),
            ("POST", r"/lfs/(?P<oid>[0-9a-f]{64})/verify", self.lfs_verify),
            ("GET", rf"/api/spaces/{REPO_ID}/tree/(?P<rev>[^/]+)", self.tree),
            ("POST", rf"/api/spaces/{REPO_ID}/commit/(?P<rev>[^/]+)", self.commit),
            ("POST", rf"/api/spaces/{REPO_ID}/variables", self.variable),
        ]

    def stop(self):
        self.server.stop()

    def _space(self, match, headers) -> dict | None:
        self.authorizations.add(headers.get("Authorization", ""))
        return self.spaces.get(match["repo"])

    def create_repo(self, match, query, headers, body):
        self.authorizations.add(headers.get("Authorization", ""))
        payload = json.loads(body)
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        if "/" not in repo_id:
            repo_id = f"me/{repo_id}"
        if repo_id in self.spaces:   # the Hub names the existing repository in its 409
            return _json({"error": "You already created this space repo", "url": f"{self.url}/spaces/{repo_id}"},
                         409)
        self.spaces[repo_id] = {"create": payload, "files": {".gitattributes": b"*.safetensors filter=lfs\n"},
                                "variables": {}}
        return _json({"url": f"{self.url}/spaces/{repo_id}"})

    def preupload(self, match, query, headers, body):
        if self._space(match, headers) is None:
            return _json({"error": "Repository not found"}, 404)
        files = []
        for item in json.loads(body)["files"]:
            binary = b"\0" in base64.b64decode(item["sample"])
            mode = "lfs" if item["size"] > LFS_THRESHOLD or binary else "regular"
            self.upload_modes[item["path"]] = mode
            files.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False})
        return _json({"files": files})

    def lfs_batch(self, match, query, headers, body):
        self._space(match, headers)
        objects = [{"oid": o["oid"], "size": o["size"],
                    "actions": {"upload": {"href": f"{self.url}/lfs/{o['oid']}"},
                                "verify": {"href": f"{self.url}/lfs/{o['oid']}/verify"}}}
                   for o in json.loads(body)["objects"]]
        return _json({"transfer": "basic", "objects": objects})

    def lfs_put(self, match, query, headers, body):
        if hashlib.sha256(body).hexdigest() != match["oid"]:
            return _json({"error": "sha256 mismatch"}, 400)
        self.lfs_objects[match["oid"]] = body
        return _json({})

    def lfs_verify(self, match, query, headers, body):
        return _json({}) if match["oid"] in self.lfs_objects else _json({"error": "not uploaded"}, 404)

    def tree(self, match, query, headers, body):
        space = self._space(match, headers)
        if space is None:
            return _json({"error": "Repository not found"}, 404)
        return _json([{"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                      for path, data in sorted(space["files"].items())])

    def commit(self, match, query, headers, body):
        space = self._space(match, headers)
        if space is None:
            return _json({"error": "Repository not found"}, 404)
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        for line in lines:
            value = line["value"]
            if line["key"] == "file":
                space["files"][value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "lfsFile":
                if value["oid"] not in self.lfs_objects:
                    return _json({"error": f"LFS object of {value['path']} was never uploaded"}, 422)
                space["files"][value["path"]] = self.lfs_objects[value["oid"]]
            elif line["key"] == "deletedFile":
                space["files"].pop(value["path"], None)
        self.commits.append(lines)
        oid = hashlib.sha1(body).hexdigest()
        return _json({"commitUrl": f"{self.url}/spaces/{match['repo']}/commit/{oid}", "commitOid": oid,
                      "pullRequestUrl": None})

    def variable(self, match, query, headers, body):
        space = self._space(match, headers)
        if space is None:
            return _json({"error": "Repository not found"}, 404)
        payload = json.loads(body)
        space["variables"][payload["key"]] = payload["value"]
        return _json({key: {"value": value} for key, value in space["variables"].items()})
