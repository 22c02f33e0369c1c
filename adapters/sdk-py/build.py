#!/usr/bin/env python3
"""Build a Python adapter into a WebAssembly component of the
``datacollect:external-sync@1.2.0`` world ``adapter-world``.

    python adapters/sdk-py/build.py <adapter dir> <module> <out.wasm> [--keep-wasi]

``<adapter dir>`` holds ``<module>.py``, which imports ``datacollect_sdk`` (this directory)
and binds ``Adapter, Manifest, Checks = export_adapter(...)``.

Steps:
1. ``componentize-py bindings`` into a temporary directory, and a host-side import of the
   module against them (CPython on this machine): a syntax or import error shows here, in
   plain Python, before the slower componentize step.
2. ``componentize-py componentize --stub-wasi``: every WASI import is replaced by a trapping
   stub, so the component imports only the WIT interfaces of the contract. The module's
   top level (and every import) runs at build time and is snapshotted; at run time there is
   no file system, and ``print``, ``time``, ``random``, ``os.urandom`` trap. ``--keep-wasi``
   builds without the stubs (the component then imports WASI p2 and calls
   ``wasi:cli/environment`` and ``wasi:random`` on its first call).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WIT = os.path.normpath(os.path.join(HERE, "..", "..", "wit"))
WORLD = "adapter-world"
ENTRY = "_dcsync_entry"


def componentize_py():
    exe = shutil.which("componentize-py")
    if exe:
        return [exe]
    # Installed for this interpreter but its scripts directory is not on PATH.
    return [sys.executable, "-c", "import sys, componentize_py; sys.argv[0] = 'componentize-py'; componentize_py.script()"]


def build(adapter_dir, module, out, stub_wasi=True):
    adapter_dir = os.path.abspath(adapter_dir)
    out = os.path.abspath(out)
    if not os.path.isfile(os.path.join(adapter_dir, module + ".py")):
        sys.exit(f"build.py: no {module}.py in {adapter_dir}")
    started = time.monotonic()
    cpy = componentize_py()
    with tempfile.TemporaryDirectory(prefix="dcsync-py-") as tmp:
        bindings = os.path.join(tmp, "bindings")
        subprocess.run(cpy + ["-q", "-d", WIT, "-w", WORLD, "bindings", bindings], check=True)
        # The generated import stubs raise NotImplementedError only when called, so the
        # module imports on the host; its classes are checked like componentize-py does.
        check = (
            "import importlib, sys\n"
            f"m = importlib.import_module({module!r})\n"
            "missing = [c for c in ('Adapter', 'Manifest', 'Checks') if not callable(getattr(m, c, None))]\n"
            "sys.exit(f'{m.__name__} must define {missing} (Adapter, Manifest, Checks = export_adapter(...))' "
            "if missing else 0)\n"
        )
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([adapter_dir, HERE, bindings]),
                   PYTHONDONTWRITEBYTECODE="1")
        subprocess.run([sys.executable, "-c", check], check=True, env=env, cwd=tmp)
        # componentize-py mounts the python path read-write while it pre-initializes the app
        # (its Python writes __pycache__ there): give it copies, not the source tree.
        app = os.path.join(tmp, "app")
        sdk = os.path.join(tmp, "sdk")
        shutil.copytree(adapter_dir, app, ignore=shutil.ignore_patterns(
            "__pycache__", "*.pyc", "*.wasm", ".git", "node_modules"))
        os.makedirs(sdk)
        shutil.copy2(os.path.join(HERE, "datacollect_sdk.py"), sdk)
        # The module componentize-py builds: the app's three exports, and the 1.2
        # `encoded-push` export that `export_adapter` made (or the app's own `EncodedPush`).
        with open(os.path.join(sdk, ENTRY + ".py"), "w") as f:
            f.write(
                f"import {module} as _app\n"
                "import datacollect_sdk as _sdk\n"
                "Adapter, Manifest, Checks = _app.Adapter, _app.Manifest, _app.Checks\n"
                "EncodedPush = getattr(_app, 'EncodedPush', None)\n"
                "if EncodedPush is None and hasattr(_sdk, 'encoded_push_export'):\n"
                "    EncodedPush = _sdk.encoded_push_export(default=None)\n"
                "if EncodedPush is None:  # an app without export_adapter, or a vendored 1.1 SDK\n"
                "    from componentize_py_types import Err as _Err\n"
                "    from wit_world.imports import types as _wit\n"
                "    class EncodedPush:\n"
                "        def push_encoded(self, config, batch):\n"
                "            raise _Err(_wit.SyncError_Internal('this adapter takes no encoded batches'))\n"
            )
        os.makedirs(os.path.dirname(out), exist_ok=True)
        cmd = cpy + ["-q", "-d", WIT, "-w", WORLD, "componentize"]
        if stub_wasi:
            cmd.append("--stub-wasi")
        cmd += ["-p", app, "-p", sdk, ENTRY, "-o", out]
        # Run from an empty directory: componentize-py also searches the working directory
        # and a virtualenv's site-packages; keep the component to what is named.
        work = os.path.join(tmp, "work")
        os.makedirs(work)
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        subprocess.run(cmd, check=True, cwd=work, env=env)
    return os.path.getsize(out), time.monotonic() - started


def main(argv):
    args = [a for a in argv if a != "--keep-wasi"]
    if len(args) != 3:
        sys.exit("usage: python adapters/sdk-py/build.py <adapter dir> <module> <out.wasm> [--keep-wasi]")
    try:
        size, seconds = build(*args, stub_wasi="--keep-wasi" not in argv)
    except subprocess.CalledProcessError as e:
        sys.exit(f"build.py: {' '.join(map(str, e.cmd[:6]))} ... failed (exit {e.returncode})")
    print(f"{args[2]}: {size / 1048576:.1f} MiB in {seconds:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
