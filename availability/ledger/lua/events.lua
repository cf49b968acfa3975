--[[ Stock events of ONE partition, checked and applied atomically. The rules are those of
ledger/memory.py (its module docstring); the client has already rejected malformed events and copies of
an id later in the same batch, and sends each remaining entry with a mode:
  1 APPLY+CLAIM  claim the event id here (its id partition is this partition), then apply
  2 APPLY+MARK   the id was claimed in its own partition first; mark it applied here, then apply
  3 CLAIM        claim only (the event applies in another partition)
  4 PEEK         only say whether the id was seen (events naming an unknown location or channel)
  5 RELEASE      forget a claim whose event was rejected in another partition
KEYS  1 partition meta, 2 change stream, 3 SKU list of the generation,
      then per SKU of ARGV[9], in that order: its counters hash, its journal,
      then per entry, in order: its id key (claim key, or applied-marker key for mode 2)
ARGV  1 generation expected, 2 now (ms, the ledger's clock), 3 newest event time the caller knows of,
      4 count-window start the caller knows of, 5 count window (ms), 6 id retention (ms),
      7 stream MAXLEN (approximate), 8 number of SKUs, 9 the SKU ids joined by spaces,
      10 entries, packed '<BBi4i4i4i8h' (mode, type, sku 0-based, location, quantity, time, channel),
      then one payload per entry ('' for modes 2 and 5's marker)
Reply {0, gen, seq before, seq after, newest event time, window start, codes (one byte per entry),
       info ('\n'-joined: the count time of each stale entry, the stored payload of each reused id),
       change rows (packed '<i4i4i8hi4': sku, location, delta on hand, channel of a channel sale or -1,
       ring-fence consumed)}, or {-1, live generation} when a snapshot load switched generations.
Codes: 0 applied, 1 duplicate, 2 id reused with another payload, 3 stale delta, 4 stale count,
       5 count older than the window, 6 on hand would leave the range, 7 claimed, 8 id not seen.
Nothing is written before the generation check, and nothing after it can fail, so a call is all or
nothing. Counters are read once per SKU (HMGET) and written back once per SKU (HSET). ]]

local ENTRY = '<BBi4i4i4i8h'
local ENTRY_SIZE = 24
local MAX_QUANTITY = 1000000000
local E_SALE, E_COUNT = 1, 5
local SIGN = {[0] = 1, [1] = -1, [2] = 1, [3] = 0, [4] = 1, [6] = -1, [7] = 1}
local CHUNK = 4000 -- arguments per command: Lua's unpack() has a stack limit

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
local m = tonumber(ARGV[8])
local data = ARGV[10]
local n = #data / ENTRY_SIZE
local id0 = 3 + 2 * m
local pay0 = 10

local function call_chunked(cmd, key, args)
  for i = 1, #args, CHUNK do
    redis.call(cmd, key, unpack(args, i, math.min(i + CHUNK - 1, #args)))
  end
end

-- 1. decode the entries; gather the counter fields each SKU needs
local e_mode, e_ty, e_s, e_loc, e_qty, e_t, e_ch = {}, {}, {}, {}, {}, {}, {}
local wanted, wanted_set = {}, {}
local at = 1
for k = 1, n do
  local mode, ty, s, loc, qty, t, ch
  mode, ty, s, loc, qty, t, ch, at = struct.unpack(ENTRY, data, at)
  e_mode[k], e_ty[k], e_s[k], e_loc[k], e_qty[k], e_t[k], e_ch[k] = mode, ty, s + 1, loc, qty, t, ch
  if mode <= 2 then
    s = s + 1
    local f, set = wanted[s], wanted_set[s]
    if not f then
      f, set = {-1}, {}
      wanted[s], wanted_set[s] = f, set
    end
    local fh = 4 * loc
    if not set[fh] then
      set[fh] = true
      f[#f + 1] = fh
      f[#f + 1] = fh + 3
    end
    if ty == E_SALE and ch >= 0 and not set[-2 - 2 * ch] then
      set[-2 - 2 * ch] = true
      f[#f + 1] = -2 - 2 * ch
      f[#f + 1] = -3 - 2 * ch
    end
  end
end

-- 2. one read per SKU
local cache = {}
for s, f in pairs(wanted) do
  local c = {}
  for i = 1, #f, CHUNK do
    local last = math.min(i + CHUNK - 1, #f)
    local vals = redis.call('HMGET', KEYS[2 + 2 * s], unpack(f, i, last))
    for j = i, last do
      local v = vals[j - i + 1]
      if v then c[f[j]] = tonumber(v) end
    end
  end
  cache[s] = c
end

-- 3. the entries, in order
local codes, info, rows = {}, {}, {}
local dirty, journal, journal_set = {}, {}, {}
local new_sku = {}
local seq = seq0
local stamp = ARGV[2]

local function seen_payload(prior)
  -- "<time> <payload>": nil when the claim is past its retention by the ledger's clock
  local sp = string.find(prior, ' ', 1, true)
  if now - tonumber(string.sub(prior, 1, sp - 1)) > retention then return nil end
  return string.sub(prior, sp + 1)
end

for k = 1, n do
  local mode = e_mode[k]
  local key = KEYS[id0 + k]
  local payload = ARGV[pay0 + k]
  local code = nil
  if mode == 1 or mode == 3 or mode == 4 then
    local prior
    if mode == 4 then
      prior = redis.call('GET', key)
    else
      prior = redis.call('SET', key, stamp .. ' ' .. payload, 'NX', 'GET', 'PX', retention)
    end
    if prior then
      local was = seen_payload(prior)
      if was == nil then
        if mode ~= 4 then redis.call('SET', key, stamp .. ' ' .. payload, 'PX', retention) end
      elseif was == payload then
        code = 1
      else
        code = 2
        info[#info + 1] = was
      end
    end
    if code == nil and mode == 3 then code = 7 end
    if code == nil and mode == 4 then code = 8 end
  elseif mode == 2 then
    local prior = redis.call('SET', key, stamp, 'NX', 'GET', 'PX', retention)
    if prior then
      if now - tonumber(prior) <= retention then
        code = 1
      else
        redis.call('SET', key, stamp, 'PX', retention)
      end
    end
  else -- 5: release a claim, only if it is still this event's
    local prior = redis.call('GET', key)
    if prior and seen_payload(prior) == payload then redis.call('DEL', key) end
    code = 0
  end

  if code == nil then
    local s, loc, ty, qty, t = e_s[k], e_loc[k], e_ty[k], e_qty[k], e_t[k]
    local c = cache[s]
    local fh = 4 * loc
    local last = c[fh + 3] or 0
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
      local cur = c[fh] or 0
      local delta
      if ty == E_COUNT then
        -- the count is as of t: add every delta applied at this location with a time at or after t
        local later = 0
        local prefix = loc .. ':'
        for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3 + 2 * s], t, '+inf')) do
          if string.sub(member, 1, #prefix) == prefix then
            later = later + tonumber(string.match(member, ':(-?%d+)$'))
          end
        end
        local pending = journal[s]
        if pending then
          for i = 1, #pending, 4 do
            if pending[i + 2] == loc and pending[i] >= t then later = later + pending[i + 3] end
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
        local d = dirty[s]
        if not d then
          d = {}
          dirty[s] = d
        end
        if ty == E_COUNT then
          c[fh + 3] = t
          d[fh + 3] = true
        elseif delta ~= 0 then
          local pending = journal[s]
          if not pending then
            pending = {}
            journal[s] = pending
          end
          -- time, member, location, delta (the last two for counts later in this call)
          pending[#pending + 1] = t
          pending[#pending + 1] = string.format('%d:%d:%d', loc, seq, delta)
          pending[#pending + 1] = loc
          pending[#pending + 1] = delta
        end
        local ch = -1
        local take = 0
        if ty == E_SALE and e_ch[k] >= 0 then
          ch = e_ch[k]
          local q = c[-2 - 2 * ch]
          if q then
            local used = c[-3 - 2 * ch] or 0
            take = math.min(q - used, qty)
            if take < 0 then take = 0 end
            if take > 0 then
              c[-3 - 2 * ch] = used + take
              d[-3 - 2 * ch] = true
            end
          end
        end
        c[fh] = new
        d[fh] = true
        if not c[-1] then
          c[-1] = 0
          d[-1] = true
          new_sku[s] = true
        end
        if t > hw then hw = t end
        code = 0
        rows[#rows + 1] = struct.pack('<i4i4i8hi4', s - 1, loc, delta, ch, take)
      end
    end
    -- a rejected event is not remembered: a corrected event may reuse its id
    if code == 5 or code == 6 then redis.call('DEL', key) end
  end
  codes[k] = string.char(code)
end

-- 4. write back: one HSET per SKU, one ZADD per journal
for s, d in pairs(dirty) do
  local c, args = cache[s], {}
  for f in pairs(d) do
    args[#args + 1] = f
    args[#args + 1] = c[f]
  end
  call_chunked('HSET', KEYS[2 + 2 * s], args)
end
local ws_text = string.format('%d', ws)
for s, pending in pairs(journal) do
  local args = {}
  for i = 1, #pending, 4 do
    args[#args + 1] = pending[i]
    args[#args + 1] = pending[i + 1]
  end
  call_chunked('ZADD', KEYS[3 + 2 * s], args)
  -- entries older than the window can never be summed again; pruning on one call in eight keeps
  -- the journal bounded without a command per SKU per call
  if (seq + s) % 8 == 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[3 + 2 * s], '-inf', '(' .. ws_text)
  end
end
if next(new_sku) then
  local names, i = {}, 0
  for name in string.gmatch(ARGV[9], '%S+') do
    i = i + 1
    names[i] = name
  end
  for s in pairs(new_sku) do redis.call('HSETNX', KEYS[3], names[s], '') end
end

local seq_text, hw_text = string.format('%d', seq), string.format('%d', hw)
redis.call('HSET', KEYS[1], 'seq', seq_text, 'hw', hw_text, 'ws', ws_text)
local packed = table.concat(rows)
if seq > seq0 then
  -- the change record, after the write and in the same call: replicas see all of it or none
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], seq_text .. '-0', 'k', 'e', 'p',
    string.format('%d', seq0), 'g', ARGV[1], 'h', hw_text, 'w', ws_text, 'u', ARGV[9], 'r', packed)
end
return {0, ARGV[1], seq0, seq, hw, ws, table.concat(codes), table.concat(info, '\n'), packed}
