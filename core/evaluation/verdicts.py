"""An evaluation in plain words: one verdict line per persona and one for all of them, from an eval.json report.

The counts come from the attribution step (``core.evaluation.attribution``): of the replies the tuned model wrote
for a persona, how many sound like that persona rather than another one; of the persona's real held-out lines, how
many the same classifier recognises (the ceiling: a voice the real lines do not show cannot be learned either); of
the base model's replies, how many (the floor the tuning started from). Pure functions over the report's dict, so
the wording is tested without a window; ``attribution_matrix`` also rebuilds the matrix of an older eval.json that
has only the per-persona rates.
"""
from __future__ import annotations

SOURCES = ("tuned", "real", "base")
NEAR_CHANCE = 2.0  # real lines recognised under twice the chance rate: the personas barely differ in style


def right_and_total(entry: dict | None) -> tuple[int, int] | None:
    """(replies attributed to their own persona, replies) of one attribution block, or None without one."""
    if not isinstance(entry, dict) or not entry.get("count"):
        return None
    count = int(entry["count"])
    return round(float(entry.get("rate") or 0.0) * count), count


def persona_count(report: dict) -> int:
    """How many personas the classifier chose from (the evaluated ones when the report does not say)."""
    summary = report.get("attribution") or {}
    return int(summary.get("personas") or len(report.get("personas") or {}))


def persona_verdict(entry: dict, personas: int, note: str | None = None) -> str:
    """``"Wren: 8 of 10 replies recognised as Wren; real lines: 9 of 10"`` (and the base model's count when it was
    scored); ``personas``: how many the classifier chose from; ``note``: why the report has no attribution."""
    name = str(entry.get("name") or "?")
    examples = int(entry.get("examples") or 0)
    if examples == 0:
        return f"{name}: no replies were evaluated"
    attribution = entry.get("attribution") or {}
    tuned = right_and_total(attribution.get("tuned"))
    if personas == 1 and tuned is not None:
        return (f"{name}: {tuned[1]} replies evaluated; with one persona there is no other voice to tell it from, "
                f"so attribution says nothing")
    if tuned is None:
        why = note or "this evaluation has no attribution; evaluate again"
        return f"{name}: {examples} replies evaluated; not attributed ({why})"
    parts = [f"{name}: {tuned[0]} of {tuned[1]} replies recognised as {name}"]
    real = right_and_total(attribution.get("real"))
    parts.append(f"real lines: {real[0]} of {real[1]}" if real else "real lines: not attributed")
    base = right_and_total(attribution.get("base"))
    if base is not None:
        parts.append(f"base model: {base[0]} of {base[1]}")
    return "; ".join(parts)


def overall_verdict(report: dict) -> str:
    """``"All personas: 31 of 60 replies recognised as the right persona; real lines: 48 of 60; chance: 10 of 60"``,
    with a warning when even the real lines are recognised barely above chance."""
    personas = report.get("personas") or {}
    if not personas:
        return "No persona was evaluated."
    count = persona_count(report)
    totals = {source: _summed(personas.values(), source) for source in SOURCES}
    tuned, real, base = totals["tuned"], totals["real"], totals["base"]
    if count == 1:
        return ("One persona: attribution needs at least two voices to tell apart; perplexity, style and length "
                "still apply.")
    if tuned is None:
        return "All personas: not attributed; evaluate again to see which persona each reply sounds like."
    parts = [f"All personas: {tuned[0]} of {tuned[1]} replies recognised as the right persona"]
    if real is not None:
        parts.append(f"real lines: {real[0]} of {real[1]}")
    if base is not None:
        parts.append(f"base model: {base[0]} of {base[1]}")
    parts.append(f"chance: {round(tuned[1] / count)} of {tuned[1]} ({count} personas)")
    line = "; ".join(parts)
    if real is not None and real[1] and real[0] / real[1] < NEAR_CHANCE / count:
        line += ". Even the real lines are barely told apart, so these counts say little."
    return line


def _summed(entries, source: str) -> tuple[int, int] | None:
    found = [right_and_total((entry.get("attribution") or {}).get(source)) for entry in entries]
    found = [pair for pair in found if pair is not None]
    if not found:
        return None
    return sum(right for right, _ in found), sum(total for _, total in found)


def verdict_lines(report: dict) -> list[str]:
    """One line per persona (in the report's order), then the overall line."""
    personas = report.get("personas") or {}
    count = persona_count(report)
    note = (report.get("attribution") or {}).get("note")
    return [*(persona_verdict(entry, count, note) for entry in personas.values()), overall_verdict(report)]


def persona_names(report: dict) -> dict[str, str]:
    """Persona id -> display name, for every evaluated persona."""
    personas = report.get("personas") or {}
    return {str(persona): str(entry.get("name") or persona) for persona, entry in personas.items()}


def attribution_matrix(report: dict, source: str = "tuned") -> dict[str, dict[str, int]]:
    """``{true persona: {attributed persona: count}}`` for one source: the report's ``attribution_matrix``, or, for an
    eval.json written before it existed, rebuilt from each persona's rate, count and confused_with."""
    stored = (report.get("attribution_matrix") or {}).get(source)
    if isinstance(stored, dict):
        return {str(row): {str(column): int(count) for column, count in cells.items()} for row, cells in stored.items()}
    matrix: dict[str, dict[str, int]] = {}
    for persona, entry in (report.get("personas") or {}).items():
        block = (entry.get("attribution") or {}).get(source)
        pair = right_and_total(block)
        if pair is None:
            continue
        row = {str(persona): pair[0]} if pair[0] else {}
        row.update({str(other): int(count) for other, count in (block.get("confused_with") or {}).items()})
        matrix[str(persona)] = row
    return matrix


def matrix_grid(report: dict, source: str = "tuned") -> tuple[list[str], list[str], list[list[int]]]:
    """The matrix of one source as a grid to draw: (row labels, column labels, counts). Rows are the evaluated
    personas in the report's order; columns the same personas, then any other persona a reply went to (one that
    has training replies but no test examples), labelled by the end of its id when the report has no name for it."""
    matrix = attribution_matrix(report, source)
    names = persona_names(report)
    row_ids = [persona for persona in names if persona in matrix]
    extra = sorted({column for cells in matrix.values() for column in cells} - set(names))
    column_ids = [*names, *extra]
    labels = {**{persona: f"#{persona[-4:]}" for persona in extra}, **names}
    counts = [[matrix[row].get(column, 0) for column in column_ids] for row in row_ids]
    return [labels[row] for row in row_ids], [labels[column] for column in column_ids], counts
