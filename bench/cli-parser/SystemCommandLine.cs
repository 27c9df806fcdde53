// bench/cli-parser.sh: the shape of `sharpvisor run` parsed with System.CommandLine (15 value options and a flag).
using System.CommandLine;
var root = new RootCommand("bench");
var run = new Command("run");
string[] names = ["--kernel","--initrd","--cmdline","--cpus","--memory","--serial","--on-reboot","--kvm","--emulation-workarounds","--disk","--net","--console","--control","--exit-file","--profile-guest"];
var opts = names.Select(n => new Option<string[]>(n) { AllowMultipleArgumentsPerToken = false }).ToList();
foreach (var o in opts) run.Options.Add(o);
var rng = new Option<bool>("--rng"); run.Options.Add(rng);
root.Subcommands.Add(run);
run.SetAction(r => { var n = 0; foreach (var o in opts) n += r.GetValue(o)?.Length ?? 0; return r.GetValue(rng) ? n : -n; });
return root.Parse(args).Invoke() >= 0 ? 0 : 0;
