"""The first notebook of the course, opened and run in a real JupyterLab in Debian's Chromium.

tests/notebooks/ runs every notebook with nbclient, which is how CI proves
the cells work. This test does what a student does on the first day instead:
JupyterLab 4 serves ``notebooks/00_start_here.ipynb`` (copied unchanged into
the test's own directory), the browser runs it with *Run > Run All Cells*,
and the test reads what the page shows: siplab's banner, the accounts, Bob
receiving Alice's MESSAGE (RFC 3428) through the lab's LabServer, the text
ladder of the exchange.

The exercise's check cell raises until the exercise is solved (it is tagged
``raises-exception``, so the run goes on past it): the page shows the
check's hint. The test then types the solution from ``notebooks/solutions/``
into the exercise cell, as a student would, restarts the kernel and runs
everything again, and sees the check pass and the lab stop. Screenshots of both moments are kept
in ``artifacts/<test name>/``.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.test_jupyterlab import (
    STEP,
    WIDGETS_SHOWN,
    JupyterLab,
    run_all_cells,
)
from tests.browser.test_jupyterlab import jupyterlab as jupyterlab  # the fixture, reused

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "00_start_here.ipynb"
SOLUTIONS = ROOT / "notebooks" / "solutions" / "00_start_here.md"
EXERCISE_ID = "exercise-bob-answers"
RUN_TIME = 60.0  # the whole notebook: kernel start, lab start, two phones, a MESSAGE each way


def solution_code(exercise_id: str) -> str:
    """The first ```python block of the solutions file's section for ``exercise_id``."""
    text = SOLUTIONS.read_text("utf-8")
    section = text.split(f"## {exercise_id}", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, f"no code for {exercise_id} in {SOLUTIONS}"
    return match.group(1).strip()


def outputs(page: Page) -> str:
    """Every cell output the page shows, in order, as text."""
    texts = page.locator(".jp-OutputArea-output").all_text_contents()
    return "\n".join(texts)


def wait_for_output(page: Page, pattern: str, timeout: float) -> None:
    """Wait until some cell output matches the (JavaScript) regular expression."""
    page.wait_for_function(
        "(pattern) => [...document.querySelectorAll('.jp-OutputArea-output')]"
        ".some((element) => new RegExp(pattern).test(element.textContent))",
        arg=pattern, timeout=timeout * 1000)


def exercise_cell_index(page: Page) -> int:
    """The position of the exercise cell among the notebook's cells (found by its code)."""
    sources = page.locator(".jp-Cell .jp-InputArea-editor").all_text_contents()
    for index, source in enumerate(sources):
        if source.lstrip().startswith("bob_reply = None"):
            return index
    pytest.fail(f"no exercise cell ({EXERCISE_ID}) in the page")


@pytest.mark.interop
def test_start_here_runs_in_jupyterlab_and_its_exercise_is_solved_in_the_page(
        chromium: Browser, jupyterlab: JupyterLab, artifacts_dir: Path) -> None:
    notebook = Path(shutil.copy(NOTEBOOK, jupyterlab.root / NOTEBOOK.name))
    context = chromium.new_context(viewport={"width": 1400, "height": 1500})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{jupyterlab.url}/lab/tree/{notebook.name}?token={jupyterlab.token}",
                  timeout=STEP * 1000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=WIDGETS_SHOWN * 1000)
        run_all_cells(page)

        # The cells before the exercise ran: the lab started, Bob got Alice's MESSAGE,
        # the ladder was drawn; the run stopped at the check, which shows its hint.
        wait_for_output(page, "replace None with Bob's MESSAGE", RUN_TIME)
        shown = outputs(page)
        assert re.search(r"siplab \d+\.\d+", shown), shown[:2000]
        assert "WebSocket: ws://127.0.0.1:" in shown, shown[:2000]
        assert "Bob received: 'Hello, Bob!' from sip:alice@127.0.0.1" in shown, shown[:2000]
        assert "Alice got back: 200 OK" in shown, shown[:2000]
        assert re.search(r"MESSAGE[\s\S]*200 OK", shown), shown[:2000]
        assert "Correct:" not in shown
        page.screenshot(path=str(artifacts_dir / "start-here-exercise-unsolved.png"),
                        full_page=True)

        # The run went on to the end (JupyterLab runs past a cell tagged raises-exception)
        # and the last cell stopped the lab. The student types the solution into the
        # exercise cell and runs the notebook again on a fresh kernel.
        wait_for_output(page, "<LabServer stopped", RUN_TIME)
        index = exercise_cell_index(page)
        cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(solution_code(EXERCISE_ID))
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Kernel$")).click()
        page.locator(".lm-Menu-itemLabel",
                     has_text=re.compile(r"^Restart Kernel and Run All Cells")).click()
        page.locator(".jp-Dialog button", has_text=re.compile(r"^Restart$")).click()
        page.wait_for_function(  # the restart clears the outputs of the first run
            "() => ![...document.querySelectorAll('.jp-OutputArea-output')]"
            ".some((element) => element.textContent.includes('<LabServer stopped'))",
            timeout=STEP * 1000)

        wait_for_output(page, "Correct: Alice received 'Hi Alice!' from sip:bob@", RUN_TIME)
        wait_for_output(page, "wrote .*00_hello\\.pcap", STEP)
        # The new run's last cell: the lab stopped again.
        wait_for_output(page, "<LabServer stopped udp:127\\.0\\.0\\.1:", RUN_TIME)
        assert (jupyterlab.root / "captures" / "00_hello.pcap").stat().st_size > 0
        page.screenshot(path=str(artifacts_dir / "start-here-exercise-solved.png"),
                        full_page=True)
        assert errors == [], f"errors in the page: {errors}"
    except Exception:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(artifacts_dir / "jupyterlab-failure.png"), full_page=True)
            print(f"===== cell outputs =====\n{outputs(page)[-4000:]}")
        print(f"===== JupyterLab log =====\n{jupyterlab.log_tail()}")
        raise
    finally:
        context.close()
