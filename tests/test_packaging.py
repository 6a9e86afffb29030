"""A plain (not editable) `pip install .` gives a working bot, with the templates inside the package."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_plain_install_ships_templates_and_console_script(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT)],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    assert (target / "bot" / "templates" / "periodic_status_update.md.j2").exists()
    # The GitLab stand-in and the demo are development tools: none of their code ships with the bot.
    assert not (target / "sandbox").exists()
    shipped = {p.stem for p in (target / "bot").rglob("*.py")}
    assert not shipped & {"sandbox", "demo", "local", "wsgi_server", "quick_actions"}, shipped
    entry_points = next(target.glob("incident_bot-*.dist-info")) / "entry_points.txt"
    assert "incident-bot = bot.cli:main" in entry_points.read_text()
    probe = (
        "import bot, bot.render as r\n"
        "assert bot.__file__.startswith(%r), bot.__file__\n"
        "names = r.Renderer().list_templates()\n"
        "assert len([n for n in names if n.endswith('.md.j2')]) >= 30, names\n"
        "from bot.cli import main\n"
        "import contextlib, io\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "assert 'serve' in out.getvalue() and 'cadence' in out.getvalue()\n"
        "print('ok')\n" % str(target)
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
