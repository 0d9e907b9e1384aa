-- wrk script: every request a new MessageSid, from a random one of the
-- seeded users (+12012000000 …), reported as JSON at the end. TAG (0–255)
-- keeps the sids of wrk processes run side by side apart.
--   wrk … -s bench/webhook.lua URL -- USERS [TAG]
local threads = {}

function setup(thread)
    thread:set("thread_id", #threads)
    table.insert(threads, thread)
end

function init(args)
    users = tonumber(args[1]) or 10000
    tag = tonumber(args[2]) or 0
    sent = 0
    -- Each run of wrk its own sids: a warm-up's are not repeated.
    started = os.time()
    math.randomseed(thread_id * 7919 + os.time())
end

function request()
    sent = sent + 1
    local sid = string.format("SM%08x%02x%02x%020x", started, tag, thread_id, sent)
    local from = string.format("%%2B1201%07d", 2000000 + math.random(0, users - 1))
    local body = "ToCountry=US&NumMedia=0&MessageSid=" .. sid .. "&SmsMessageSid=" .. sid ..
        "&AccountSid=AC00000000000000000000000000000000&From=" .. from ..
        "&To=%2B15005550006&Body=hello%20there&NumSegments=1&ApiVersion=2010-04-01"
    return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

dofile("bench/report.lua")
