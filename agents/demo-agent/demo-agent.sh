#!/usr/bin/env bash
# demo-agent: a stand-in for a real coding agent (Claude Code by default), so that the orchestrator runs end to
# end on a machine with no agent CLI installed. It reads the prompt on standard input, as a real agent does, and
# writes one real file describing the work it was given:  demo/<domain>/<task>-<first 8 chars of the task id>.md
set -euo pipefail

prompt=$(cat)
domain=${DOMAIN_TYPE:-general}
task_id=${TASK_ID:-manual}

# The line after "## Task" is the task's description; make a file name of it.
description=$(printf '%s\n' "$prompt" | awk 'found { print; exit } /^## Task$/ { found = 1 }')
slug=$(printf '%s' "${description:-task}" | tr '[:upper:]' '[:lower:]' | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//' | cut -c1-40)
file="demo/${domain}/${slug:-task}-${task_id:0:8}.md"

mkdir -p "$(dirname "$file")"
{
  printf '# %s (demo agent, %s domain)\n\n' "${description:-task}" "$domain"
  printf 'This file was written by the demo agent, which stands in for a real coding agent.\n'
  printf 'The prompt it received:\n\n'
  printf '%s\n' "$prompt" | sed 's/^/    /'
} > "$file"

echo "demo-agent: wrote $file"
