"""The Models page's evaluation verbs beyond eval.json: the evaluated examples and the blind test, mixed into
``gui.actions.Actions`` through ``gui.actions_data`` (they use ``_summary`` of ``gui.actions_runs.RunActions``).

Files are a run's ``eval/examples.jsonl`` (written by the evaluation worker) and ``eval/blind_picks.jsonl`` (written
here, one atomic rewrite per pick; inside the eval folder, so an opt-out or a forget covers it with the run). The
blind test's key (which side is real, tuned or base) stays here, never in what the view gets; a stale run's replies
are not shown again, so its examples and its blind test are refused with the reason. The reads are a few KB to a few
hundred KB, read when a run is selected, as eval.json is.
"""
from __future__ import annotations

from core.evaluation import blind
from gui.errors import ActionError, NotAvailable

EVAL_DIR = "eval"
NO_EXAMPLES = "this evaluation kept no examples (it predates examples.jsonl)"


class EvalActions:
    def _eval_dir(self, run_id: str, doing: str):
        summary = self._summary(run_id)
        if summary.stale:
            raise NotAvailable(f"cannot {doing}: {summary.stale}", "train a new run on a fresh dataset")
        return summary.run_dir / EVAL_DIR

    def eval_examples(self, run_id: str) -> list[dict]:
        """Every evaluated example of the run: persona, context, real, tuned and base replies, their attributions."""
        folder = self._eval_dir(run_id, "show the examples")
        try:
            return blind.read_examples(folder / blind.EXAMPLES_FILE)
        except (OSError, blind.BlindFileError) as exc:
            raise ActionError(str(exc), "evaluate the run again to rewrite it") from None

    def blind_test(self, run_id: str, size: int = blind.TEST_SIZE) -> list[blind.BlindPair]:
        """A sitting of the blind test: pairs not judged before (a new order each sitting), without their key."""
        folder = self._eval_dir(run_id, "start a blind test")
        try:
            examples = blind.read_examples(folder / blind.EXAMPLES_FILE)
            picks = blind.read_picks(folder / blind.PICKS_FILE)
        except (OSError, blind.BlindFileError) as exc:
            raise ActionError(str(exc), "fix or delete the file named, then start the test again") from None
        if not examples:
            raise NotAvailable(NO_EXAMPLES, "press Evaluate to evaluate the run again")
        built = blind.build_pairs(examples, size=size, seed=len(picks), answered=blind.answered_pairs(picks))
        if not built:
            raise NotAvailable("every pair of this evaluation has been judged", "evaluate again for new replies")
        self.__dict__.setdefault("_blind_keys", {})[run_id] = {pair.number: key for pair, key in built}
        return [pair for pair, _key in built]

    def record_blind_pick(self, run_id: str, number: int, choice: str) -> str:
        """Store the pick for pair ``number`` of the current sitting ("A", "B" or "cant-tell"); the new score line."""
        key = self.__dict__.get("_blind_keys", {}).get(run_id, {}).get(number)
        if key is None:
            raise ActionError(f"pair {number} is not part of the blind test in progress", "start the test again")
        path = self._eval_dir(run_id, "store a blind-test pick") / blind.PICKS_FILE
        try:
            blind.store_pick(path, blind.make_pick(key, choice))
            return blind.score_line(blind.score(blind.read_picks(path)))
        except (OSError, ValueError) as exc:  # BlindFileError is a ValueError
            raise ActionError(f"the pick was not saved: {exc}", "fix or delete the file named") from None

    def blind_score(self, run_id: str) -> str:
        """``"Blind test: tuned picked over real 4 of 10; over base 7 of 10"``, or that it was not taken."""
        path = self._summary(run_id).run_dir / EVAL_DIR / blind.PICKS_FILE
        try:
            return blind.score_line(blind.score(blind.read_picks(path)))
        except (OSError, blind.BlindFileError) as exc:
            raise ActionError(str(exc), "fix or delete that line; the other picks are kept") from None
