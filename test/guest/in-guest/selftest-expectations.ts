// The kernel log Linux's own livepatch selftests (tools/testing/selftests/livepatch/test-*.sh) expect per scenario,
// read from the scripts themselves so spliced is checked against a peer's expectations, not its own.

/** The MOD_* variables a selftest script assigns, e.g. MOD_LIVEPATCH=test_klp_livepatch. */
function scriptVariables(script: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const m of script.matchAll(/^(MOD_\w+)=(\S+)$/gm)) vars.set(m[1], m[2]);
  return vars;
}

function substitute(text: string, vars: Map<string, string>): string {
  const names = [...vars.keys()].sort((a, b) => b.length - a.length);
  let out = text;
  for (const name of names) out = out.split(`\${${name}}`).join(vars.get(name)!).split(`$${name}`).join(vars.get(name)!);
  return out;
}

/**
 * Kernel log lines the scenario `title` expects: its check_result block without the lines the script itself logs
 * ("% command" and the modprobe tool's error), which belong to the shell script, not to the kernel.
 */
export function expectedKernelLog(script: string, title: string): string[] {
  const start = script.indexOf(`start_test "${title}"`);
  if (start < 0) throw new Error(`no selftest scenario "${title}"`);
  const block = /check_result "([^"]*)"/.exec(script.slice(start));
  if (!block) throw new Error(`selftest scenario "${title}" has no check_result`);
  return substitute(block[1], scriptVariables(script))
    .split('\n')
    .filter((line) => !line.startsWith('% ') && !line.startsWith('modprobe:'));
}

/** The kernel log lines check_result compares: livepatch core and test_klp lines, taint notices dropped. */
export function selftestRelevant(messages: readonly string[]): string[] {
  return messages.filter((m) => (m.includes('livepatch:') || m.includes('test_klp')) && !/(tainting|taints) kernel/.test(m));
}
