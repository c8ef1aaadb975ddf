"""Worker processes start under a host that captures stderr (Textual's capture has fileno -1)."""
import subprocess
import sys

CODE = r'''
import io, sys, traceback


class Capture(io.StringIO):
    def fileno(self):
        return -1


def main():
    sys.stderr = Capture()
    from tunewiz.data.workers import WorkerPool

    pool = WorkerPool(abs, 1)
    try:
        print(list(pool.imap([-1, -2, -3])), file=sys.__stdout__)
    finally:
        pool.close()


if __name__ == "__main__":  # fork-server children re-import this file as __mp_main__
    try:
        main()
    except BaseException:
        traceback.print_exc(file=sys.__stdout__)
        raise SystemExit(1)
'''


def test_workers_start_when_stderr_has_no_file_descriptor(tmp_path):
    script = tmp_path / "host.py"  # a real file: fork-server children re-import __main__
    script.write_text(CODE)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip() == "[1, 2, 3]"
