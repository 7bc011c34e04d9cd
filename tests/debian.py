"""
Programs the tests need from Debian's packages (redis-server, irssi), installed
when missing: the test machines run as root and reach Debian's mirrors, so
README's one test command works on a fresh machine.  Where that cannot be
done, the tests fail with the reason: they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def debian_program(program: str, package: str | None = None) -> str:
    """The path of C{program}, installing its Debian C{package} first if needed."""
    found = shutil.which(program) or next(
        (p for p in (f"/usr/bin/{program}", f"/usr/sbin/{program}") if os.path.exists(p)), None)
    if found:
        return found
    package = package or program
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(f"these tests need {program}: apt-get install {package}")
    # Said before it is done, past pytest's capture: a person running the tests sees what is installed.
    sys.__stderr__.write(f"\ntests: installing {package} from Debian's packages (apt-get install {package}), "
                         f"which these tests need\n")
    sys.__stderr__.flush()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)
    found = shutil.which(program) or f"/usr/bin/{program}"
    if not os.path.exists(found):
        raise RuntimeError(f"apt-get installed {package}, but there is no {program}")
    return found
