"""`kubectl bulletin completion bash|zsh`: a static completion script made from the parser:
subcommands, their flags, and schedule names from `kubectl get` (in the -n namespace given)."""

from __future__ import annotations

import argparse

TEMPLATE = """\
# kubectl-bulletin completion for {shell}: source <(kubectl bulletin completion {shell})
_kubectl_bulletin() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" cmd="" ns="" opts="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${{COMP_WORDS[i]}}" in
      -n|--namespace) ns="${{COMP_WORDS[i+1]}}"; ((i++)) ;;
      -*) ;;
      *) [[ -z "$cmd" ]] && cmd="${{COMP_WORDS[i]}}" ;;
    esac
  done
  if [[ -z "$cmd" ]]; then
    COMPREPLY=($(compgen -W "{commands} --help --version" -- "$cur")); return
  fi
  case "$cmd" in
{cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur")); return
  fi
  local names
  names=$(kubectl get reportschedules.bulletin.dev ${{ns:+-n "$ns"}} --no-headers \\
    -o custom-columns=:metadata.name 2>/dev/null)
  COMPREPLY=($(compgen -W "$names" -- "$cur"))
}}
complete -F _kubectl_bulletin kubectl-bulletin
"""


def _subparsers(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def script(top: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``shell`` (bash, or zsh through bashcompinit)."""
    commands = _subparsers(top)
    cases = []
    for name, sub in commands.items():
        flags = sorted({flag for action in sub._actions for flag in action.option_strings})
        cases.append(f'    {name}) opts="{" ".join(flags)}" ;;')
    text = TEMPLATE.format(shell=shell, commands=" ".join(commands), cases="\n".join(cases))
    if shell == "zsh":
        text = "autoload -U +X bashcompinit && bashcompinit\n" + text
    return text
