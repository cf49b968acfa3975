--[[ Hold counters of SKUs of ONE partition: one step of a reservation operation, checked and applied
atomically. The availability rules are those of ledger/holdbook.py (HoldBook._available) over the
counters of redis_keys.py; a client computes the rows from the shared state machine
(availability/reservations.py).
Modes:
  'apply'  a step of a cross-partition operation: idempotent by its step key (the step's rows and
           ring-fence amounts are kept there, so a retry answers the same and an undo knows what to
           reverse); refused once the step was undone (the operation was rolled back meanwhile)
  'undo'   reverse an applied step (or, if it never ran, make sure it never will); idempotent
  'force'  apply the rows without stock checks (a repair by reconcile); its change record ('r')
           carries the values set, not the changes
  'local'  the whole operation when its record and all its SKUs live in this partition: compare the
           record's version, apply the rows, write the record, its deadline and ring-fence amounts
KEYS  1 partition meta, 2 change stream, 3 hold catalogue of the generation, 4 step key (apply/undo),
      5 reservation record (local), 6 deadline set (local), then the counters hash of each SKU
      (keys a mode does not use are still named, in this partition, so the layout never changes)
ARGV  1 generation expected, 2 stream MAXLEN, 3 mode, 4 step key retention (ms), 5 number of SKUs,
      6 the SKU ids joined by spaces, 7 rows, packed '<i4i4i4i4i4i4i4i4i4i4' each:
        sku (0-based), location or -1, hold group or -1, change of units held, change of on hand,
        channel, ring-fence (increase: 1 to count it against the channel's ring-fence, else 0;
        decrease: units of ring-fence to give back), line (shortfalls are reported by it), and the
        location's default safety stock and whether a hold of the channel may draw on it (1/0), from
        the catalogue version of ARGV 15
      local only ('' otherwise): 8 record version expected (0: the reservation must not exist),
        9 record JSON, 10 status, 11 deadline (ms, 0: none), 12 record field that receives each row's
        ring-fence amount, '\n'-joined ('' for none), 13 further record fields and increments,
        '\n'-joined, 14 time to keep the record once closed (ms, 0: for good)
      15 catalogue version the rows were made with, 16 and 17 the fields of the channel's ring-fence,
      18 the number k of the fields that follow that are other channels' ring-fences (pairs), 19.. those
        fields, then the fields of every hold group: the quick check reads them with the position
Reply {0, gen, seq before, seq after, ring-fence amount per row packed '<i4', the rows as applied
      packed '<i4i4i4i4i4i4i4' (the change record's rows: the last field is the ring-fence change)}, or
      {1, shortfalls packed '<i4i4i4' (line, requested, available)} (nothing written), or
      {2, version, record JSON} (local: the record is not at the expected version), or
      {3} (apply: the step was undone), or {-1, live generation}, or {-2} (a snapshot load holds the
      partition's holds still: try again shortly), or {-3} (the catalogue changed: rows are stale).
Why the arguments carry field names and catalogue values: every number a script turns into a string,
and every command, costs about half a microsecond here; a one-line hold is one HMGET of the position,
the channel's ring-fence and the fields that would need the full check, one HINCRBY, and the record. ]]

local ROW, ROW_SIZE = '<i4i4i4i4i4i4i4i4i4i4', 40
local HOLD_BASE = -1000000 -- field of the units held at hold group g: HOLD_BASE - g

local meta = redis.call('HMGET', KEYS[1], 'gen', 'seq', 'lk', 'cv')
if meta[1] ~= ARGV[1] then
  return {-1, meta[1] or ''}
end
local mode = ARGV[3]
if mode ~= 'undo' and (meta[4] or '1') ~= ARGV[15] then return {-3} end
if meta[3] and mode ~= 'undo' then
  -- a snapshot load is carrying the holds into its generation: no new ones until it switches (the
  -- lock is a time, so a load that died releases it by itself)
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) < tonumber(meta[3]) then return {-2} end
end
local first_sku_key = 7

if mode == 'local' then
  local v = tonumber(redis.call('HGET', KEYS[5], 'v') or '0')
  if v ~= tonumber(ARGV[8]) then
    return {2, v, redis.call('HGET', KEYS[5], 'd') or ''}
  end
elseif mode == 'apply' then
  local done = redis.call('GET', KEYS[4])
  if done then
    if done == 'U' then return {3} end
    -- applied before: answer as then (the sequence is not moved again)
    local seq = tonumber(meta[2]) or 0
    return {0, ARGV[1], seq, seq, string.sub(done, 2), ''}
  end
end

local skus = {}
for s in string.gmatch(ARGV[6], '%S+') do skus[#skus + 1] = s end

local rows = {}
local data = ARGV[7]
if mode == 'undo' then
  local done = redis.call('GET', KEYS[4])
  redis.call('SET', KEYS[4], 'U', 'PX', ARGV[4])
  if not done or done == 'U' then
    local seq = tonumber(meta[2]) or 0
    return {0, ARGV[1], seq, seq, '', ''}
  end
  -- the rows as applied, reversed: the fence amounts are those the step took or gave back
  local applied = string.sub(done, 2)
  local at = 1
  for i = 1, #data / ROW_SIZE do
    local r = {struct.unpack(ROW, data, at)}
    at = r[11]
    local f = struct.unpack('<i4', applied, 4 * (i - 1) + 1)
    rows[#rows + 1] = {r[1], r[2], r[3], -r[4], -r[5], r[6], 0, r[8], r[9], r[10], -f}
  end
else
  local at = 1
  for _ = 1, #data / ROW_SIZE do
    local r = {struct.unpack(ROW, data, at)}
    at = r[11]
    r[11] = nil
    rows[#rows + 1] = r
  end
end

-- the hold catalogue, read only when a check needs more than one location: see redis_codec.py
local cat, n_loc, n_grp, n_chan
local function header()
  if not n_loc then
    n_loc, n_grp, n_chan = struct.unpack('<i4i4i4', redis.call('GETRANGE', KEYS[3], 0, 11))
  end
end
local function catalogue()
  if not cat then
    cat = redis.call('GET', KEYS[3]) or ''
    n_loc, n_grp, n_chan = struct.unpack('<i4i4i4', cat, 1)
  end
  return cat
end
local function default_safety(l)
  if cat then return (struct.unpack('<i4', cat, 13 + 4 * l)) end
  return (struct.unpack('<i4', redis.call('GETRANGE', KEYS[3], 12 + 4 * l, 15 + 4 * l)))
end
-- per location and channel: 1 serves it (enabled), 2 may hold for it (enabled, some method)
local function chan_flags(ch, l)
  header()
  local off = 12 + 5 * n_loc + ch * n_loc + l
  if cat then return string.byte(cat, off + 1) end
  return string.byte(redis.call('GETRANGE', KEYS[3], off, off))
end
local function enabled(l)
  return string.byte(catalogue(), 13 + 4 * n_loc + l) == 1
end
local function named_members(g)
  local c = catalogue()
  local base = 13 + 5 * n_loc + n_chan * n_loc
  local start, count = struct.unpack('<i4i4', c, base + 8 * g)
  local out = {}
  local off = base + 8 * n_grp + 4 * start
  for k = 0, count - 1 do out[struct.unpack('<i4', c, off + 4 * k)] = true end
  return out
end

-- a hold group's members: a named group's locations, or the enabled locations serving a channel
local function hold_members(g)
  catalogue()
  if g < n_grp then return named_members(g) end
  local ch, out = g - n_grp, {}
  for l = 0, n_loc - 1 do
    if chan_flags(ch, l) % 2 == 1 then out[l] = true end
  end
  return out
end

local function fence_fields(ch) return tostring(-2 - 2 * ch), tostring(-3 - 2 * ch) end

-- everything of one SKU a full check needs, read afresh (earlier rows of the call may have changed it)
local function read_sku(key)
  local all = redis.call('HGETALL', key)
  local pos, fq, fu, held = {}, {}, {}, {}
  for i = 1, #all, 2 do
    local f = tonumber(all[i])
    if f then
      local v = tonumber(all[i + 1])
      if f >= 0 then
        local l, kind = math.floor(f / 4), f % 4
        local p = pos[l]
        if not p then p = {0, 0, -1}; pos[l] = p end
        if kind < 3 then p[kind + 1] = v end
      elseif f <= HOLD_BASE then
        held[HOLD_BASE - f] = v
      elseif f <= -2 then
        local code = -f - 2
        local ch = math.floor(code / 2)
        if code % 2 == 0 then fq[ch] = v else fu[ch] = v end
      end
    end
  end
  return pos, fq, fu, held
end

local function free_of(p, l)
  local safety = p[3]
  if safety < 0 then safety = default_safety(l) end
  local f = p[1] - p[2] - safety
  if f < 0 then return 0 end
  return f
end

-- ATP of a hold for channel ch over a scope (members table, or nil for the whole network), as
-- store.hold_atp: in-scope free stock, less group holds inside the scope, capped by the network's free
-- stock less other channels' unconsumed ring-fences and every group hold
local function hold_atp(sku, ch, scope)
  local pos, fq, fu, held = sku[1], sku[2], sku[3], sku[4]
  local other, inside = 0, 0
  for c, q in pairs(fq) do
    if c ~= ch then
      local rem = q - (fu[c] or 0)
      if rem > 0 then other = other + rem end
    end
  end
  local any_held = false
  for g, q in pairs(held) do
    if q > 0 then
      other = other + q
      any_held = true
    end
  end
  local scope_free, net = 0, 0
  for l, p in pairs(pos) do
    local f = free_of(p, l)
    if f > 0 then
      if (scope == nil or scope[l]) and math.floor(chan_flags(ch, l) / 2) % 2 == 1 then
        scope_free = scope_free + f
      end
      if other > 0 and enabled(l) then net = net + f end
    end
  end
  if other == 0 then return scope_free end
  if any_held then
    for g, q in pairs(held) do
      if q > 0 then
        -- contained: no enabled member of the group lies outside the scope
        local contained = true
        if scope ~= nil then
          for l in pairs(hold_members(g)) do
            if not scope[l] and enabled(l) then contained = false; break end
          end
        end
        if contained then inside = inside + q end
      end
    end
  end
  local s = scope_free - inside
  if s < 0 then s = 0 end
  local head = net - other
  if head < 0 then head = 0 end
  if s < head then return s end
  return head
end

local function scope_of_group(g)
  catalogue()
  if g < n_grp then return named_members(g) end
  return nil
end

-- what a new hold of channel ch may take at location l (g < 0) or hold group g: HoldBook._available
-- the channel's ring-fence of a SKU as the quick check read it (kept current by the fence step)
local own_fence = {}

local function available(key, ch, l, g, r)
  -- the usual case first: a location hold on a SKU without ring-fences of other channels or group
  -- holds needs only that position's three fields
  if l >= 0 then
    local got = redis.call('HMGET', key, 4 * l, 4 * l + 1, 4 * l + 2, ARGV[16], ARGV[17], unpack(ARGV, 19))
    own_fence[key] = {tonumber(got[4]), tonumber(got[5]) or 0}
    local quiet = true
    local k = tonumber(ARGV[18])
    for j = 6, 5 + k, 2 do
      if (tonumber(got[j]) or 0) - (tonumber(got[j + 1]) or 0) > 0 then quiet = false; break end
    end
    if quiet then
      for j = 6 + k, #got do
        if (tonumber(got[j]) or 0) > 0 then quiet = false; break end
      end
    end
    if quiet then
      if r[10] ~= 1 or not got[1] then return 0 end
      local safety = tonumber(got[3]) or r[9]
      local f = tonumber(got[1]) - (tonumber(got[2]) or 0) - safety
      if f < 0 then return 0 end
      return f
    end
  end
  local sku = {read_sku(key)}
  local avail
  if l >= 0 then
    avail = hold_atp(sku, ch, {[l] = true})
  else
    avail = hold_atp(sku, ch, scope_of_group(g))
  end
  local mine = (g >= 0) and hold_members(g) or nil
  for g2, q in pairs(sku[4]) do
    if q > 0 and g2 ~= g then
      local outer = hold_members(g2)
      local encloses
      if l >= 0 then
        encloses = outer[l] == true
      else
        encloses = true
        for m in pairs(mine) do
          if not outer[m] then encloses = false; break end
        end
      end
      if encloses then
        local c2 = ch
        if g2 >= n_grp then c2 = g2 - n_grp end
        local a2 = hold_atp(sku, c2, scope_of_group(g2))
        if a2 < avail then avail = a2 end
      end
    end
  end
  if avail < 0 then return 0 end
  return avail
end

local function add_held(key, l, g, d)
  if l >= 0 then
    return redis.call('HINCRBY', key, 4 * l + 1, d)
  end
  return redis.call('HINCRBY', key, HOLD_BASE - g, d)
end

local function add_on_hand(key, l, d)
  redis.call('HINCRBY', key, 4 * l, d)
end

-- 1. check and apply in order; a short row is skipped (later rows must not count it) and reported
local short, applied = {}, {}
for i, r in ipairs(rows) do
  local key = KEYS[first_sku_key + r[1]]
  if r[4] > 0 and mode ~= 'undo' and mode ~= 'force' then
    local avail = available(key, r[6], r[2], r[3], r)
    if r[4] > avail then
      short[#short + 1] = struct.pack('<i4i4i4', r[8], r[4], avail)
    else
      add_held(key, r[2], r[3], r[4])
      applied[#applied + 1] = i
    end
  elseif redis.call('EXISTS', key) == 1 then
    local now_held = add_held(key, r[2], r[3], r[4])
    -- a repair records the value it set, not the change: replicas did not see the drift it corrects
    if mode == 'force' then r[12] = now_held end
    if r[5] ~= 0 then add_on_hand(key, r[2], r[5]) end
    applied[#applied + 1] = i
  else
    -- the SKU left with a snapshot load: nothing of it is held any more (as in the embedded ledger)
    r[4], r[5], r[7] = 0, 0, 0
    if r[11] then r[11] = 0 end
  end
end
if #short > 0 then
  for k = #applied, 1, -1 do
    local r = rows[applied[k]]
    local key = KEYS[first_sku_key + r[1]]
    add_held(key, r[2], r[3], -r[4])
    if r[5] ~= 0 then add_on_hand(key, r[2], -r[5]) end
  end
  return {1, table.concat(short)}
end

-- 2. ring-fences: a hold counts against its channel's fence (what it takes there it gives back when
-- released); an undo reverses exactly what the step did
local fences, out_rows = {}, {}
for i, r in ipairs(rows) do
  local key = KEYS[first_sku_key + r[1]]
  local amount = 0
  if mode == 'undo' then
    amount = r[11]
  elseif r[4] > 0 and r[7] == 1 and r[6] >= 0 then
    local fence = own_fence[key]
    if not fence then
      local got = redis.call('HMGET', key, ARGV[16], ARGV[17])
      fence = {tonumber(got[1]), tonumber(got[2]) or 0}
      own_fence[key] = fence
    end
    if fence[1] then
      local rem = fence[1] - fence[2]
      if rem > 0 then amount = math.min(rem, r[4]) end
      fence[2] = fence[2] + amount
    end
  elseif r[4] < 0 and r[7] > 0 and r[6] >= 0 then
    local _, fu = fence_fields(r[6])
    local used = tonumber(redis.call('HGET', key, fu) or '0')
    amount = -math.min(r[7], used)
  end
  if amount ~= 0 then
    local _, fu = fence_fields(r[6])
    redis.call('HINCRBY', key, fu, amount)
    if r[4] < 0 or mode == 'undo' then own_fence[key] = nil end
  end
  fences[i] = struct.pack('<i4', amount)
  out_rows[i] = struct.pack('<i4i4i4i4i4i4i4', r[1], r[2], r[3], r[12] or r[4], r[5], r[6], amount)
end
local fence_text, applied_rows = table.concat(fences), table.concat(out_rows)

-- 3. the step's memory, the record (local) and the change record
if mode == 'apply' then
  redis.call('SET', KEYS[4], 'A' .. fence_text, 'PX', ARGV[4])
elseif mode == 'local' then
  local v = tonumber(ARGV[8]) + 1
  redis.call('HSET', KEYS[5], 'v', v, 'd', ARGV[9], 's', ARGV[10])
  local k = 1
  for name in string.gmatch(ARGV[12] .. '\n', '([^\n]*)\n') do
    if name ~= '' then
      local a = struct.unpack('<i4', fence_text, 4 * (k - 1) + 1)
      if a ~= 0 then redis.call('HINCRBY', KEYS[5], name, a) end
    end
    k = k + 1
  end
  local extra = {}
  for item in string.gmatch(ARGV[13], '[^\n]+') do extra[#extra + 1] = item end
  for j = 1, #extra, 2 do redis.call('HINCRBY', KEYS[5], extra[j], extra[j + 1]) end
  if ARGV[11] ~= '0' then
    redis.call('ZADD', KEYS[6], ARGV[11], KEYS[5])
  else
    redis.call('ZREM', KEYS[6], KEYS[5])
  end
  if ARGV[14] ~= '0' then redis.call('PEXPIRE', KEYS[5], ARGV[14]) end
end
local seq0 = tonumber(meta[2]) or 0
local seq = seq0
if #rows > 0 then
  seq = seq0 + 1
  redis.call('HSET', KEYS[1], 'seq', seq)
  local kind = 'h'
  if mode == 'force' then kind = 'r' end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'k', kind, 'p', meta[2] or '0', 'g', ARGV[1],
    'u', ARGV[6], 'r', applied_rows)
end
return {0, ARGV[1], seq0, seq, fence_text, applied_rows}
