"""The Redis admission gate of flash sales: under load the database sees only admitted buyers.

Per item, three Redis hashes (the `{id}` hash tag keeps them in one cluster slot):

- `flash:{id}:meta`  start / end (epoch ms), limit (per member), left (units still admissible)
- `flash:{id}:cnt`   member id → units counted against the member's limit (admitted + held + paid)
- `flash:{id}:adm`   member id → "token|quantity|expires_ms": the member's live admission

`POST flash/items/{id}/admit` runs one Lua script (atomic in Redis): window, live admission (the
same one is answered again), per-member limit, units left; then it takes the units and records
the admission. Creating the order checks the admission (provider load), records its token on the
FlashPurchase (unique) and deletes it after commit. The database stays the judge: the order takes
its units from the item's pool with a conditional UPDATE whatever Redis said.

An admitted buyer who never orders: the admission expires after FLASH_SALE_ADMISSION_TTL; its
units come back when the same member asks again (the script gives an expired admission back first)
or at the next reconcile (beat task every minute, on item save/activation, `reconcile_flash`),
which rebuilds `left` = the pool in the database − live admissions, and each member's count =
held + paid units in the database + their live admission. Between two reconciles the counters
may be slightly off after a failure (an order rolled back after its admission was consumed,
Redis lost): never towards overselling, since the database judges every order.

Without Redis (the embedded mode, REDIS_URL unset) `redis_client()` is None and the services
admit straight to the database check (see marketing.services.flash_sale.flash_admit).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings

ADMIT = "admitted"
NOT_STARTED = "not_started"
ENDED = "ended"
SOLD_OUT = "sold_out"
LIMIT = "limit"
UNKNOWN = "unknown"  # the item is not in Redis (not reconciled yet, or its session is over)

_ADMIT_LUA = """
local meta = redis.call('HMGET', KEYS[1], 'start', 'end', 'limit', 'left')
if not meta[4] then return {'unknown'} end
local now = tonumber(ARGV[3])
if now < tonumber(meta[1]) then return {'not_started'} end
if now >= tonumber(meta[2]) then return {'ended'} end
local member, qty = ARGV[1], tonumber(ARGV[2])
local left = tonumber(meta[4])
local held = redis.call('HGET', KEYS[3], member)
if held then
  local tok, hq, exp = string.match(held, '^([^|]+)|(%d+)|(%d+)$')
  if tonumber(exp) > now then return {'admitted', tok, hq, exp} end
  -- expired unused: give its units back before judging this request
  redis.call('HINCRBY', KEYS[1], 'left', tonumber(hq))
  redis.call('HINCRBY', KEYS[2], member, -tonumber(hq))
  redis.call('HDEL', KEYS[3], member)
  left = left + tonumber(hq)
end
local count = tonumber(redis.call('HGET', KEYS[2], member) or '0')
if count + qty > tonumber(meta[3]) then return {'limit'} end
if left < qty then return {'sold_out'} end
redis.call('HINCRBY', KEYS[1], 'left', -qty)
redis.call('HINCRBY', KEYS[2], member, qty)
local exp = now + tonumber(ARGV[5])
redis.call('HSET', KEYS[3], member, ARGV[4] .. '|' .. qty .. '|' .. exp)
return {'admitted', ARGV[4], tostring(qty), tostring(exp)}
"""

# ARGV: now, start, end, limit, pool in the DB, expire-at (ms), then member, DB count pairs.
_RECONCILE_LUA = """
local now = tonumber(ARGV[1])
local outstanding = 0
local live = {}
local adm = redis.call('HGETALL', KEYS[3])
for i = 1, #adm, 2 do
  local tok, q, exp = string.match(adm[i + 1], '^([^|]+)|(%d+)|(%d+)$')
  if exp and tonumber(exp) > now then
    outstanding = outstanding + tonumber(q)
    live[adm[i]] = tonumber(q)
  else
    redis.call('HDEL', KEYS[3], adm[i])
  end
end
redis.call('DEL', KEYS[2])
for i = 7, #ARGV, 2 do
  local c = tonumber(ARGV[i + 1]) + (live[ARGV[i]] or 0)
  live[ARGV[i]] = nil
  if c > 0 then redis.call('HSET', KEYS[2], ARGV[i], c) end
end
for m, q in pairs(live) do redis.call('HSET', KEYS[2], m, q) end
local left = tonumber(ARGV[5]) - outstanding
if left < 0 then left = 0 end
redis.call('HSET', KEYS[1], 'start', ARGV[2], 'end', ARGV[3], 'limit', ARGV[4], 'left', left)
for i = 1, 3 do redis.call('PEXPIREAT', KEYS[i], ARGV[6]) end
return left
"""

# An order for the admission committed: forget the admission (only this token's).
_CONSUME_LUA = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and string.sub(held, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. '|' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
"""

# An unpaid order's units went back to the pool: to the counters too (if the item is in Redis).
_RELEASE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'left', tonumber(ARGV[2]))
local c = redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2]))
if c <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 1
"""


@dataclass(frozen=True)
class Admission:
    token: str
    quantity: int
    expires_ms: int


@dataclass(frozen=True)
class AdmitOutcome:
    result: str  # ADMIT, NOT_STARTED, ENDED, SOLD_OUT, LIMIT, UNKNOWN
    admission: Admission | None = None


def _keys(item_id: int) -> list[str]:
    return [f"flash:{{{item_id}}}:meta", f"flash:{{{item_id}}}:cnt", f"flash:{{{item_id}}}:adm"]


@functools.cache
def _client_for(url: str) -> Any:
    import redis

    # redis-py's pool notices a fork (gunicorn, Celery prefork) and opens new connections.
    return redis.Redis.from_url(url)


def redis_client() -> Any | None:
    """The Redis of the cache and Celery (settings.REDIS_URL), or None in the embedded mode."""
    url = settings.REDIS_URL
    return _client_for(url) if url else None


@functools.cache
def _scripts(url: str) -> dict[str, Any]:
    client = _client_for(url)
    return {
        "admit": client.register_script(_ADMIT_LUA),
        "reconcile": client.register_script(_RECONCILE_LUA),
        "consume": client.register_script(_CONSUME_LUA),
        "release": client.register_script(_RELEASE_LUA),
    }


def _script(name: str) -> Any:
    return _scripts(settings.REDIS_URL)[name]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def admit(*, item_id: int, member_id: int, quantity: int, now_ms: int, token: str) -> AdmitOutcome:
    """One atomic admission attempt (requires Redis)."""
    answer = _script("admit")(
        keys=_keys(item_id),
        args=[member_id, quantity, now_ms, token, settings.FLASH_SALE_ADMISSION_TTL * 1000],
    )
    result = _text(answer[0])
    if result != ADMIT:
        return AdmitOutcome(result)
    return AdmitOutcome(
        ADMIT, Admission(_text(answer[1]), int(_text(answer[2])), int(_text(answer[3])))
    )


def admission_get(*, item_id: int, member_id: int, now_ms: int) -> Admission | None:
    """The member's live (unexpired) admission to the item, if any."""
    raw = redis_client().hget(_keys(item_id)[2], member_id)
    if raw is None:
        return None
    token, quantity, expires = _text(raw).split("|")
    if int(expires) <= now_ms:
        return None
    return Admission(token, int(quantity), int(expires))


def admission_consume(*, item_id: int, member_id: int, token: str) -> bool:
    return bool(_script("consume")(keys=[_keys(item_id)[2]], args=[member_id, token]))


def counters_release(*, item_id: int, member_id: int, quantity: int) -> None:
    _script("release")(keys=_keys(item_id)[:2], args=[member_id, quantity])


def item_load(
    *,
    item_id: int,
    now_ms: int,
    starts_ms: int,
    ends_ms: int,
    per_member_limit: int,
    pool: int,
    member_counts: dict[int, int],
    expire_at_ms: int,
) -> int:
    """Rebuild an item's counters from the database's figures; returns the units admissible."""
    args: list[Any] = [now_ms, starts_ms, ends_ms, per_member_limit, pool, expire_at_ms]
    for member_id, count in member_counts.items():
        args += [member_id, count]
    return int(_script("reconcile")(keys=_keys(item_id), args=args))


def item_close(*, item_id: int, expire_at_ms: int) -> None:
    """The item's session is over (or the item is not for sale): from now on the script answers
    "ended" by itself, without the database, until the keys expire."""
    meta_key, cnt_key, adm_key = _keys(item_id)
    pipe = redis_client().pipeline(transaction=True)
    pipe.delete(cnt_key, adm_key)
    pipe.hset(meta_key, mapping={"start": 0, "end": 0, "limit": 0, "left": 0})
    pipe.pexpireat(meta_key, expire_at_ms)
    pipe.execute()


def items_left(item_ids: list[int]) -> dict[int, int]:
    """{item id: units admissible} of the items present in Redis (one round trip)."""
    client = redis_client()
    if client is None or not item_ids:
        return {}
    pipe = client.pipeline(transaction=False)
    for item_id in item_ids:
        pipe.hget(_keys(item_id)[0], "left")
    return {
        item_id: int(value)
        for item_id, value in zip(item_ids, pipe.execute(), strict=True)
        if value is not None
    }


def item_counters(item_id: int) -> dict[str, Any]:
    """What Redis holds for an item (tests, admin diagnostics)."""
    client = redis_client()
    meta_key, cnt_key, adm_key = _keys(item_id)
    meta = {_text(k): int(v) for k, v in client.hgetall(meta_key).items()}
    counts = {int(k): int(v) for k, v in client.hgetall(cnt_key).items()}
    admissions = {int(k): _text(v) for k, v in client.hgetall(adm_key).items()}
    return {"meta": meta, "counts": counts, "admissions": admissions}
