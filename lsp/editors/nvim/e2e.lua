-- Headless Neovim end-to-end check of `kdep lsp`: opens $KDEP_E2E_FILE, waits for diagnostics, hovers at $KDEP_E2E_HOVER (line:col, 0-based), writes what it saw to $KDEP_E2E_OUT.
-- Works with Neovim 0.7 (Debian's) and later: only vim.lsp.start_client and buf_attach_client.
local file = os.getenv("KDEP_E2E_FILE")
local out_path = os.getenv("KDEP_E2E_OUT")
local kdep = os.getenv("KDEP_E2E_BIN")
local hover_at = os.getenv("KDEP_E2E_HOVER")
local lines = {}
local function out(s) table.insert(lines, s) end
local function finish()
  local f = io.open(out_path, "w")
  f:write(table.concat(lines, "\n") .. "\n")
  f:close()
  vim.cmd("qa!")
end

vim.cmd("edit " .. vim.fn.fnameescape(file))
vim.bo.filetype = "kdep"
local bufnr = vim.api.nvim_get_current_buf()
local client_id = vim.lsp.start_client({
  name = "kdep",
  cmd = { kdep, "lsp" },
  root_dir = vim.fn.fnamemodify(file, ":h"),
})
if not client_id then
  out("error: the client did not start")
  finish()
end
vim.lsp.buf_attach_client(bufnr, client_id)

local got = vim.wait(60000, function() return #vim.diagnostic.get(bufnr) > 0 end, 50)
if not got then
  out("error: no diagnostics")
  finish()
end
local diags = vim.diagnostic.get(bufnr)
table.sort(diags, function(a, b) return a.lnum < b.lnum or (a.lnum == b.lnum and a.col < b.col) end)
for _, d in ipairs(diags) do
  local first = vim.split(d.message, "\n")[1]
  out(string.format("diagnostic %d:%d-%d:%d [%s] %s", d.lnum, d.col, d.end_lnum, d.end_col, tostring(d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)), first))
end

local line, col = hover_at:match("(%d+):(%d+)")
local client = vim.lsp.get_client_by_id(client_id)
local params = { textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = { line = tonumber(line), character = tonumber(col) } }
local resp = client.request_sync("textDocument/hover", params, 60000, bufnr)
if resp and resp.result and resp.result.contents then
  out("hover:")
  for _, l in ipairs(vim.split(resp.result.contents.value, "\n")) do out("  " .. l) end
else
  out("error: no hover " .. vim.inspect(resp))
end
client.request_sync("shutdown", nil, 10000, bufnr)
finish()
