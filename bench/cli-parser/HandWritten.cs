// bench/cli-parser.sh: the same command line read with the ArgumentReader sharpvisor compiles.
using Sharpvisor.Cli;
HashSet<string> values = ["--kernel","--initrd","--cmdline","--cpus","--memory","--serial","--on-reboot","--kvm","--emulation-workarounds","--disk","--net","--console","--control","--exit-file","--profile-guest"];
var r = new ArgumentReader(args[1..], values, new HashSet<string> { "--rng" });
var n = values.Sum(v => r.GetAll(v).Count);
return r.Has("--rng") ? 0 : (n >= 0 ? 0 : 1);
