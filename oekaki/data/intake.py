"""How contributed digits come in: one function, `contribute`, that the app (oekaki/app/api.py: /api/teach and
/api/contribute) and the command line (`python -m oekaki contribute`, oekaki/contribute.py) call the same way.

In order: the contributor's token, the arrays' shapes and ranges (screening.check_array), the batch limit
(contributions.max_batch), the door per image (screening.screen: refused digits are reported with their index
and reason and never stored), the judge's reading of the digits that passed (optional: unread when no judge is
loaded), and the store's `add` with the rate limits (contributions.rate_per_token_hour, rate_total_hour).
A digit whose reading contradicts its label is still stored: quarantine is decided when the snapshot is taken
(oekaki/data/quarantine.py), over everything its contributor gave.

The answer is a `Result`: an HTTP status for the whole request (201 every digit stored, 200 some of them, else
the most specific 4xx with one sentence in `error`) and an outcome per digit (201 stored with its id, 409 a
duplicate, 422 refused at the door, 429 over a rate limit).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oekaki.core.sections import ContributionsConfig
from oekaki.data.contributions import Item, Store
from oekaki.data.screening import Refused, check_array, screen

TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
TOKEN_RULE = "16 to 128 characters of A-Z, a-z, 0-9, '_' and '-' (a random string the contributor keeps)"
WRITER_MAX = 64  # characters of a writer id (the store's column)
NPZ_KEYS = ("images", "labels", "writers")
STORED, DUPLICATE, REFUSED, RATE_LIMITED, TOO_LARGE = 201, 409, 422, 429, 413

# images (N, 28, 28) uint8 -> (the judge's labels, its confidence in each, the model version that read them)
Reader = Callable[[np.ndarray], tuple[Sequence[int], Sequence[float], str | None]]


@dataclass(frozen=True)
class Outcome:
    """What became of the digit at `index` of the request."""

    index: int
    status: int  # 201 stored, 409 duplicate, 422 refused at the door, 429 over a rate limit
    id: int | None = None
    reason: str | None = None
    judge_label: int | None = None  # the judge's reading, when it read the digit
    judge_confidence: float | None = None

    def as_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Result:
    """The answer to one request: its status, one outcome per digit, and `error` when nothing was stored."""

    status: int
    outcomes: tuple[Outcome, ...] = ()
    error: str | None = None
    read_by: str | None = None  # the model version that read the digits (None: stored unread)

    @property
    def ids(self) -> list[int]:
        return [o.id for o in self.outcomes if o.status == STORED]

    @property
    def accepted(self) -> int:
        return len(self.ids)

    def refused(self) -> dict[str, int]:
        """How many digits were refused, by the kind of reason (the reason's words before its colon)."""
        return dict(Counter(kind(o.reason) for o in self.outcomes if o.status != STORED))

    def as_json(self) -> dict:
        body: dict = {"error": self.error} if self.error else {}
        if self.outcomes:
            body |= {"accepted": self.accepted, "ids": self.ids, "refused": self.refused(), "read_by": self.read_by}
            body["items"] = [o.as_json() for o in self.outcomes]
        return body


def kind(reason: str | None) -> str:
    return (reason or "refused").split(":", 1)[0]


def refusal(status: int, message: str) -> Result:
    """A request refused as a whole: nothing was looked at further, nothing stored."""
    return Result(status, error=message)


def check_token(token: object) -> str:
    """The contributor's token, or Refused saying what a token is."""
    if not isinstance(token, str) or not token:
        raise Refused(f"token: missing; send the contributor token, {TOKEN_RULE}")
    if not TOKEN.fullmatch(token):
        raise Refused(f"token: {len(token)} characters, not {TOKEN_RULE}")
    return token


def check_writers(writers: object, n: int) -> list[str | None]:
    """Optional writer ids, one per image: text up to WRITER_MAX characters (integers are taken as text); '' = none."""
    if writers is None:
        return [None] * n
    values = np.asarray(writers)
    if values.shape != (n,):
        raise Refused(f"writers: shape {values.shape}; expected ({n},), one writer id per image")
    if values.dtype.kind not in "USiu":
        raise Refused(f"writers: {values.dtype} values; expected text (a writer id per image)")
    out = [str(w.decode() if isinstance(w, bytes) else w).strip() for w in values.tolist()]
    if long := [w for w in out if len(w) > WRITER_MAX]:
        raise Refused(f"writers: an id of {len(long[0])} characters; at most {WRITER_MAX}")
    return [w or None for w in out]


def npz_max_bytes(max_batch: int) -> int:
    """What max_batch digits may unpack to in an .npz: 8 bytes a pixel (int64 images), a label, a writer id, headers."""
    return max_batch * (28 * 28 * 8 + 8 + 4 * WRITER_MAX) + 16 * 1024


def read_npz(source: bytes | Path, name: str, max_bytes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(images, labels, writers or None) of an .npz file or upload called `name`; Refused naming the file and the key.

    `max_bytes` bounds what the arrays may unpack to (a small compressed file can hold a huge array); nothing
    pickled is loaded (allow_pickle=False).
    """
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile as exc:
        raise Refused(f"{name}: not an .npz file ({exc}); save it with numpy.savez(file, images=..., labels=...)") from exc
    if unpacked > max_bytes:
        raise Refused(f"{name}: its arrays unpack to {unpacked:,} bytes, over {max_bytes:,} (contributions.max_batch digits)")
    arrays: dict[str, np.ndarray] = {}
    try:
        loaded = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise Refused(f"{name}: not a readable .npz file ({exc}); save it with numpy.savez(file, images=..., labels=...)") from exc
    if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy that also parses as a zip
        raise Refused(f"{name}: one array, not an .npz file; save it with numpy.savez(file, images=..., labels=...)")
    with loaded as npz:
        for key in NPZ_KEYS:
            if key not in npz.files:
                continue
            with zipfile.ZipFile(io.BytesIO(raw)) as z:  # the array's header must fit the bytes its member holds
                member = z.getinfo(f"{key}.npy" if f"{key}.npy" in z.namelist() else key)
                with z.open(member) as f:
                    try:
                        major = np.lib.format.read_magic(f)[0]
                        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                        shape, _, dtype = read_header(f)
                    except (ValueError, OSError, EOFError) as exc:
                        raise Refused(f"{name}: key {key!r} is not a readable array ({exc})") from exc
            if dtype.hasobject:
                raise Refused(f"{name}: key {key!r} holds Python objects; save plain arrays (strings as dtype str)")
            if int(np.prod(shape, dtype=object)) * dtype.itemsize > member.file_size:
                raise Refused(f"{name}: key {key!r} declares shape {shape}, more than its {member.file_size:,} bytes hold")
            try:
                arrays[key] = npz[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:  # truncated or corrupt data
                raise Refused(f"{name}: key {key!r} is not a readable array ({exc})") from exc
    for key in ("images", "labels"):
        if key not in arrays:
            raise Refused(f"{name}: no key {key!r} (it has {', '.join(npz.files) or 'none'}); expected images (N, 28, 28) and labels (N,)")
    return arrays["images"], arrays["labels"], arrays.get("writers")


def model_version(name: str | None, version: str | None, path: str | None) -> str | None:
    """How a stored digit names the model that read it: `<registered name>/<version>`, or `dvc:<checkpoint>`."""
    if version:
        return f"{name}/{version}"
    return f"dvc:{path}" if path else None


def contribute(
    store: Store,
    rules: ContributionsConfig,
    token: object,
    images: object,
    labels: object,
    writers: object = None,
    read: Reader | None = None,
) -> Result:
    """Screen, read and store one request's digits (see the module's docstring); never raises Refused."""
    try:
        token = check_token(token)
        images = np.asarray(images)
        if images.ndim and not len(images):
            raise Refused("images: no digit in the request")
        images, labels = check_array(images, np.asarray(labels))
        if len(images) > rules.max_batch:
            return refusal(TOO_LARGE, f"{len(images)} digits in one request, over contributions.max_batch = {rules.max_batch}: split it")
        who = check_writers(writers, len(images))
    except (Refused, ValueError) as exc:  # ValueError: a ragged list numpy cannot make an array of
        return refusal(REFUSED, str(exc) if isinstance(exc, Refused) else f"images: not an (N, 28, 28) array of integers ({exc})")
    reasons = [screen(image) for image in images]
    passed = [i for i, reason in enumerate(reasons) if reason is None]
    read_labels, confidences, version = [None] * len(passed), [None] * len(passed), None
    if read is not None and passed:
        read_labels, confidences, version = read(images[passed])
    readings = {
        i: (None if lab is None else int(lab), None if conf is None else float(conf))
        for i, lab, conf in zip(passed, read_labels, confidences, strict=True)
    }
    items = [Item(images[i], int(labels[i]), *readings[i], version, who[i]) for i in passed]
    stored = store.add(token, items, rules.rate_per_token_hour, rules.rate_total_hour) if items else []
    by_index = dict(zip(passed, stored, strict=True))
    outcomes = []
    for i, reason in enumerate(reasons):
        if reason is not None:
            outcomes.append(Outcome(i, REFUSED, reason=reason))
            continue
        got, (judged, conf) = by_index[i], readings[i]
        outcomes.append(Outcome(i, got.status, got.id, got.reason, judged, conf))
    return _answer(tuple(outcomes), version)


def _answer(outcomes: tuple[Outcome, ...], version: str | None) -> Result:
    n, stored = len(outcomes), sum(o.status == STORED for o in outcomes)
    if stored == n:
        return Result(STORED, outcomes, read_by=version)
    if stored:
        return Result(200, outcomes, read_by=version)
    statuses = {o.status for o in outcomes}
    status = statuses.pop() if len(statuses) == 1 else RATE_LIMITED if RATE_LIMITED in statuses else REFUSED
    if n == 1:
        return Result(status, outcomes, outcomes[0].reason, version)
    counts = ", ".join(f"{k} ({c})" for k, c in Counter(kind(o.reason) for o in outcomes).most_common())
    return Result(status, outcomes, f"none of the {n} digits was stored: {counts}", version)
