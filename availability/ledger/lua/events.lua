--[[ Stock events of ONE partition, checked and applied atomically. The rules are those of
ledger/memory.py (its module docstring); the client has already rejected malformed events and copies of
an id later in the same batch, and sends each remaining entry with a mode:
  1 APPLY+CLAIM  claim the event id here (its id partition is this partition), then apply
  2 APPLY+MARK   the id was claimed in its own partition first; mark it applied here, then apply
  3 CLAIM        claim only (the event applies in another partition)
  4 PEEK         only say whether the id was seen (events naming an unknown location or channel)
  5 RELEASE      forget a claim whose event was rejected in another partition
KEYS  1 partition meta, 2 change stream, 3 SKU list of the generation,
      then per SKU of ARGV[9], in that order: its counters hash,
      then per entry, in order: its id key (claim key, or applied-marker key for mode 2)
ARGV  1 generation expected, 2 now (ms, the ledger's clock), 3 newest event time the caller knows of,
      4 count-window start the caller knows of, 5 count window (ms), 6 id retention (ms),
      7 stream MAXLEN (approximate), 8 number of SKUs, 9 the SKU ids joined by spaces,
      10 entries, packed '<BBi4i4i4i8h' (mode, type, sku 0-based, location, quantity, time, channel),
      then one claim value per entry: "<now> <payload>" ('' for mode 2)
Reply {0, gen, seq before, seq after, newest event time, window start, codes (one byte per entry),
       info ('\n'-joined: the count time of each stale entry, the stored payload of each reused id),
       change rows (packed '<i4i4i8hi4' each: sku, location, delta on hand, channel of a channel sale or -1,
       ring-fence consumed)}, or {-1, live generation} when a snapshot load switched generations.
Codes: 0 applied, 1 duplicate, 2 id reused with another payload, 3 stale delta, 4 stale count,
       5 count older than the window, 6 on hand would leave the range, 7 claimed, 8 id not seen.

Nothing is written before the generation check, and nothing after it can fail, so a call is all or
nothing. Per event: one SET (the id), and per SKU of the call one HMGET and one HSET of its counters
hash. The journal of recent deltas is a field of that hash per position ('j<loc>': packed '<i8i4'
time, delta), so a delta costs no key and no command of its own.
Why the code looks the way it does: measured inside Redis, a 5,000-event call spent as long in Lua's
garbage collector as in its commands. Values live in flat tables keyed by numbers, not in tables per
SKU; field names are built once per location; rows are packed a hundred at a time. ]]

local ENTRY = '<BBi4i4i4i8h'
local ENTRY_SIZE = 24
local ROW, ROWS_PER_PACK = 'i4i4i8hi4', 100
local J_ENTRY, J_SIZE = '<i8i4', 12
local MAX_QUANTITY = 1000000000
local E_SALE, E_COUNT = 1, 5
local SIGN = {[0] = 1, [1] = -1, [2] = 1, [3] = 0, [4] = 1, [6] = -1, [7] = 1}
local CHUNK = 4000 -- arguments per command: Lua's unpack() has a stack limit
-- kinds of a counter field, for the numeric field codes below
local K_ON_HAND, K_COUNT, K_JOURNAL, K_FENCE_QTY, K_FENCE_USED, K_SENTINEL = 0, 1, 2, 3, 4, 5

local meta = redis.call('HMGET', KEYS[1], 'gen', 'seq', 'hw', 'ws')
if meta[1] ~= ARGV[1] then
  return {-1, meta[1] or ''}
end
local now = tonumber(ARGV[2])
local seq0 = tonumber(meta[2]) or 0
local hw = math.max(tonumber(meta[3]) or 0, tonumber(ARGV[3]))
-- the window ends at the newest event time applied, never later than the clock, and never moves back
local ws = math.max(tonumber(meta[4]) or -9007199254740992, tonumber(ARGV[4]),
  math.min(hw, now) - tonumber(ARGV[5]))
local retention = tonumber(ARGV[6])
local retention_text = ARGV[6]
local m = tonumber(ARGV[8])
local data = ARGV[10]
local n = #data / ENTRY_SIZE
local id0 = 3 + m
local pay0 = 10

-- field names of a location (on hand, count time, journal) and of a channel's fence, built once
local loc_names, fence_names = {}, {}
local function names(loc)
  local f = loc_names[loc]
  if not f then
    f = {tostring(4 * loc), tostring(4 * loc + 3), 'j' .. loc}
    loc_names[loc] = f
  end
  return f
end
local function fence(ch)
  local f = fence_names[ch]
  if not f then
    f = {tostring(-2 - 2 * ch), tostring(-3 - 2 * ch)}
    fence_names[ch] = f
  end
  return f
end
-- numeric keys: a position (SKU of this call, location), a fence (SKU, channel), a field (key, kind)
local function pos_key(s, loc) return s * 1048576 + loc end
local function fence_key(s, ch) return -(s * 64 + ch) - 1 end
local function code_of(key, kind) return key * 8 + kind end

local function call_chunked(cmd, key, args, count)
  for i = 1, count, CHUNK do
    redis.call(cmd, key, unpack(args, i, math.min(i + CHUNK - 1, count)))
  end
end

-- 1. decode the entries; gather the fields each SKU needs (names for HMGET, codes for the values)
local e_mode, e_ty, e_s, e_loc, e_qty, e_t, e_ch = {}, {}, {}, {}, {}, {}, {}
local field_names, field_codes, gathered = {}, {}, {}
local at = 1
for k = 1, n do
  local mode, ty, s, loc, qty, t, ch
  mode, ty, s, loc, qty, t, ch, at = struct.unpack(ENTRY, data, at)
  s = s + 1
  e_mode[k], e_ty[k], e_s[k], e_loc[k], e_qty[k], e_t[k], e_ch[k] = mode, ty, s, loc, qty, t, ch
  if mode <= 2 then
    local fn, fc = field_names[s], field_codes[s]
    if not fn then
      fn, fc = {'-1'}, {code_of(s, K_SENTINEL)}
      field_names[s], field_codes[s] = fn, fc
    end
    local pk = pos_key(s, loc)
    if not gathered[pk] then
      gathered[pk] = true
      local nm = names(loc)
      local i = #fn
      fn[i + 1], fn[i + 2], fn[i + 3] = nm[1], nm[2], nm[3]
      fc[i + 1], fc[i + 2], fc[i + 3] = code_of(pk, K_ON_HAND), code_of(pk, K_COUNT), code_of(pk, K_JOURNAL)
    end
    if ty == E_SALE and ch >= 0 then
      local fk = fence_key(s, ch)
      if not gathered[fk] then
        gathered[fk] = true
        local nm = fence(ch)
        local i = #fn
        fn[i + 1], fn[i + 2] = nm[1], nm[2]
        fc[i + 1], fc[i + 2] = code_of(fk, K_FENCE_QTY), code_of(fk, K_FENCE_USED)
      end
    end
  end
end

-- 2. one read per SKU; the reply is kept to write back only what changed
local val, read = {}, {}
for s, fn in pairs(field_names) do
  local fc = field_codes[s]
  local got = redis.call('HMGET', KEYS[3 + s], unpack(fn))
  for j = 1, #fn do
    local v = got[j] -- false when the field does not exist
    if v then
      if fc[j] % 8 ~= K_JOURNAL then v = tonumber(v) end
      val[fc[j]] = v
    end
  end
  read[s] = got
end

-- 3. the entries, in order
local codes, info = {}, {}
local row_values, rows_n = {}, 0
local journal_added = {} -- position key -> packed entries this call added
local journal_touched = {} -- position key -> true: prune its journal when written back
local seq = seq0

local function stored_payload(prior)
  -- a claim is "<time> <payload>": its payload, or nil when past the retention by the ledger's clock
  local sp = string.find(prior, ' ', 1, true)
  if now - tonumber(string.sub(prior, 1, sp - 1)) > retention then return nil end
  return string.sub(prior, sp + 1)
end
local function payload_of(stamped)
  return string.sub(stamped, string.find(stamped, ' ', 1, true) + 1)
end

for k = 1, n do
  local mode = e_mode[k]
  local key = KEYS[id0 + k]
  local stamped = ARGV[pay0 + k]
  local code = nil
  if mode == 1 or mode == 3 or mode == 4 then
    local prior
    if mode == 4 then
      prior = redis.call('GET', key)
    else
      prior = redis.call('SET', key, stamped, 'NX', 'GET', 'PX', retention_text)
    end
    if prior then
      local was = stored_payload(prior)
      if was == nil then
        if mode ~= 4 then redis.call('SET', key, stamped, 'PX', retention_text) end
      elseif was == payload_of(stamped) then
        code = 1
      else
        code = 2
        info[#info + 1] = was
      end
    end
    if code == nil and mode == 3 then code = 7 end
    if code == nil and mode == 4 then code = 8 end
  elseif mode == 2 then
    local prior = redis.call('SET', key, ARGV[2], 'NX', 'GET', 'PX', retention_text)
    if prior then
      if now - tonumber(prior) <= retention then
        code = 1
      else
        redis.call('SET', key, ARGV[2], 'PX', retention_text)
      end
    end
  else -- 5: release a claim, only if it is still this event's
    local prior = redis.call('GET', key)
    if prior and stored_payload(prior) == payload_of(stamped) then redis.call('DEL', key) end
    code = 0
  end

  if code == nil then
    local s, loc, ty, qty, t = e_s[k], e_loc[k], e_ty[k], e_qty[k], e_t[k]
    local pk = pos_key(s, loc)
    local c_oh, c_ct, c_j = code_of(pk, K_ON_HAND), code_of(pk, K_COUNT), code_of(pk, K_JOURNAL)
    local last = val[c_ct] or 0
    if ty == E_COUNT then
      if last > 0 and t <= last then
        code = 4
        info[#info + 1] = string.format('%d', last)
      elseif t < ws then
        code = 5
      end
    elseif last > 0 and t < last then
      code = 3
      info[#info + 1] = string.format('%d', last)
    end
    if code == nil then
      local cur = val[c_oh] or 0
      local delta
      if ty == E_COUNT then
        -- the count is as of t: add every delta applied at this position with a time at or after t
        local later = 0
        for _, j in ipairs({val[c_j] or '', journal_added[pk] or ''}) do
          local at_j = 1
          for _ = 1, #j / J_SIZE do
            local jt, jd
            jt, jd, at_j = struct.unpack(J_ENTRY, j, at_j)
            if jt >= t then later = later + jd end
          end
        end
        delta = qty + later - cur
      else
        delta = SIGN[ty] * qty
      end
      local new = cur + delta
      if new > MAX_QUANTITY or new < -MAX_QUANTITY then
        code = 6
      else
        seq = seq + 1
        if ty == E_COUNT then
          val[c_ct] = t
          journal_touched[pk] = true
        elseif delta ~= 0 then
          journal_added[pk] = (journal_added[pk] or '') .. struct.pack(J_ENTRY, t, delta)
          journal_touched[pk] = true
        end
        local ch, take = -1, 0
        if ty == E_SALE and e_ch[k] >= 0 then
          ch = e_ch[k]
          local fk = fence_key(s, ch)
          local q = val[code_of(fk, K_FENCE_QTY)]
          if q then
            local used = val[code_of(fk, K_FENCE_USED)] or 0
            take = math.min(q - used, qty)
            if take < 0 then take = 0 end
            val[code_of(fk, K_FENCE_USED)] = used + take
          end
        end
        val[c_oh] = new
        if t > hw then hw = t end
        code = 0
        local r = rows_n * 5
        row_values[r + 1], row_values[r + 2], row_values[r + 3], row_values[r + 4], row_values[r + 5] =
          s - 1, loc, delta, ch, take
        rows_n = rows_n + 1
      end
    end
    -- a rejected event is not remembered: a corrected event may reuse its id
    if code == 5 or code == 6 then redis.call('DEL', key) end
  end
  codes[k] = string.char(code)
end

-- 4. write back, one HSET per SKU of the fields that changed. A journal drops its leading entries
-- older than the window start and the position's last count: no later count can sum them (it must
-- be newer than both). Entries are appended in arrival order, which is nearly time order, so this
-- costs only what it drops; an entry left behind out of order is harmless for the same reason.
local function kept_journal(old, added, floor)
  local from = 1
  if old then
    while from <= #old and struct.unpack('<i8', old, from) < floor do
      from = from + J_SIZE
    end
  end
  local keep = old and string.sub(old, from) or ''
  if added then keep = keep .. added end
  return keep
end

local ws_text = string.format('%d', ws)
local args, gone = {}, {}
local new_sku = {}
for s, fn in pairs(field_names) do
  local fc, got = field_codes[s], read[s]
  local n_args, n_gone = 0, 0
  for j = 1, #fn do
    local fcode = fc[j]
    local kind = fcode % 8
    local v = val[fcode]
    if kind == K_JOURNAL then
      local pk = (fcode - kind) / 8
      if journal_touched[pk] then
        local floor = math.max(ws, val[code_of(pk, K_COUNT)] or 0)
        local j_new = kept_journal(got[j], journal_added[pk], floor)
        if #j_new > 0 then
          args[n_args + 1], args[n_args + 2] = fn[j], j_new
          n_args = n_args + 2
        elseif got[j] then
          n_gone = n_gone + 1
          gone[n_gone] = fn[j]
        end
      end
    elseif kind ~= K_SENTINEL and v ~= nil and v ~= tonumber(got[j]) then
      args[n_args + 1], args[n_args + 2] = fn[j], v
      n_args = n_args + 2
    end
  end
  if n_args > 0 then
    if not got[1] then
      -- the SKU's first applied event in this generation: the sentinel, and the SKU list
      args[n_args + 1], args[n_args + 2] = '-1', 0
      n_args = n_args + 2
      new_sku[s] = true
    end
    call_chunked('HSET', KEYS[3 + s], args, n_args)
  end
  if n_gone > 0 then call_chunked('HDEL', KEYS[3 + s], gone, n_gone) end
end
if next(new_sku) then
  local sku_names, i = {}, 0
  for name in string.gmatch(ARGV[9], '%S+') do
    i = i + 1
    sku_names[i] = name
  end
  for s in pairs(new_sku) do redis.call('HSETNX', KEYS[3], sku_names[s], '') end
end

-- 5. the partition's counters, and the change record: after the writes, in the same call, so
-- replicas see all of it or none
local packs = {}
for r = 0, rows_n - 1, ROWS_PER_PACK do
  local count = math.min(ROWS_PER_PACK, rows_n - r)
  packs[#packs + 1] = struct.pack('<' .. string.rep(ROW, count), unpack(row_values, r * 5 + 1, (r + count) * 5))
end
local packed = table.concat(packs)
local seq_text, hw_text = string.format('%d', seq), string.format('%d', hw)
redis.call('HSET', KEYS[1], 'seq', seq_text, 'hw', hw_text, 'ws', ws_text)
if seq > seq0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], seq_text .. '-0', 'k', 'e', 'p',
    string.format('%d', seq0), 'g', ARGV[1], 'h', hw_text, 'w', ws_text, 'u', ARGV[9], 'r', packed)
end
return {0, ARGV[1], seq0, seq, hw, ws, table.concat(codes), table.concat(info, '\n'), packed}
