-- POSTs a new pod per request; names are unique per run, thread and request.
-- api_load.py defines RUN_ID, CREATE_PATH and POD_TEMPLATE (JSON with __NAME__) above this.
local thread_count = 0

setup = function(thread)
  thread:set("thread_id", thread_count)
  thread_count = thread_count + 1
end

local counter = 0
local headers = { ["Content-Type"] = "application/json" }

request = function()
  counter = counter + 1
  local name = string.format("bench-%s-%d-%d", RUN_ID, thread_id, counter)
  local body = POD_TEMPLATE:gsub("__NAME__", name, 1)
  return wrk.format("POST", CREATE_PATH, headers, body)
end
