using Sharpvisor.Api;
using Sharpvisor.Cli.Remote;

namespace Sharpvisor.Cli.Commands;

/// <summary><c>sharpvisor vm ...</c>: the VMs of a running daemon, over its REST API (docs/api.md).</summary>
internal static class VmCommand
{
    public const string Subcommands = "list, show, create, template, clone, start, stop, kill, pause, resume, reboot, delete, console, snapshot, snapshots, restore, migrate, migrate-cancel, display, screenshot";

    public static int Execute(string[] args)
    {
        if (args.Length > 0 && args[0] is "--help" or "-h")
        {
            throw new HelpRequestedException();
        }

        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
        {
            throw new UsageException($"vm needs a subcommand: {Subcommands} (try 'sharpvisor help vm')");
        }

        var rest = args[1..];
        return args[0] switch
        {
            "list" => List(rest),
            "show" => Show(rest),
            "create" => Create(rest),
            "template" => Template(rest),
            "clone" => Clone(rest),
            "start" or "kill" or "pause" or "resume" or "reboot" => Action(args[0], rest, []),
            "stop" => Action("stop", rest, ["--timeout"]),
            "delete" => Delete(rest),
            "console" => VmConsoleCommand.Execute(rest),
            "snapshot" => Snapshot(rest),
            "snapshots" => Snapshots(rest),
            "restore" => Restore(rest),
            "migrate" => Migrate(rest),
            "migrate-cancel" => Action("migrate/cancel", rest, []),
            "display" => Display(rest),
            "screenshot" => Screenshot(rest),
            var other => throw new UsageException(Help.Nearest(other, Help.VmSubcommands) is { } nearest
                ? $"unknown vm subcommand '{other}' (did you mean '{nearest}'?)"
                : $"unknown vm subcommand '{other}' (expected {Subcommands})"),
        };
    }

    private static int List(string[] args)
    {
        var options = RemoteCommand.Read(args, ["--state"], [], positionals: 0);
        var path = options.Get("--state") is { } state ? $"api/v1/vms?state={Uri.EscapeDataString(state)}" : "api/v1/vms";
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            var answer = await api.SendAsync(HttpMethod.Get, path, ApiJsonContext.Default.IReadOnlyListVmResource).ConfigureAwait(false);
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag) ? answer.Json : VmText.List(answer.Value));
            return ExitCodes.Success;
        });
    }

    private static int Show(string[] args)
    {
        var options = RemoteCommand.Read(args, [], [], positionals: 1);
        var vm = RemoteCommand.Positional(options, 0, "the VM (id or name)");
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            var answer = await api.SendAsync(HttpMethod.Get, ApiClient.VmPath(vm), ApiJsonContext.Default.VmResource).ConfigureAwait(false);
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag) ? answer.Json : VmText.Show(answer.Value));
            return ExitCodes.Success;
        });
    }

    private static int Create(string[] args)
    {
        var options = RemoteCommand.Read(args, VmSpecOptions.ValueOptions, [], positionals: 1);
        var spec = VmSpecOptions.Parse(RemoteCommand.Positional(options, 0, "the new VM's name"), options);
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            using var body = ApiClient.Json(spec, ApiJsonContext.Default.VmSpec);
            ApiAnswer<VmResource> answer;
            try
            {
                answer = await api.SendAsync(HttpMethod.Post, "api/v1/vms", ApiJsonContext.Default.VmResource, body).ConfigureAwait(false);
            }
            catch (ApiException e) when (e.Status == 400)
            {
                throw e.Rewritten(line => VmSpecOptions.InFlagTerms(line, options));
            }

            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag) ? answer.Json : $"created {answer.Value.Name} ({answer.Value.Id:D})");
            return ExitCodes.Success;
        });
    }

    /// <summary>vm template VM [--off]: makes the stopped VM a template (or, with --off, an ordinary VM again).</summary>
    private static int Template(string[] args)
    {
        var options = RemoteCommand.Read(args, [], ["--off"], positionals: 1);
        var vm = RemoteCommand.Positional(options, 0, "the VM (id or name)");
        var spec = new VmSpec { Template = !options.Has("--off") };
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            using var body = ApiClient.Json(spec, ApiJsonContext.Default.VmSpec);
            var answer = await api.SendAsync(HttpMethod.Put, ApiClient.VmPath(vm), ApiJsonContext.Default.VmResource, body).ConfigureAwait(false);
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag)
                ? answer.Json
                : $"{answer.Value.Name}: {(answer.Value.Template ? "a template" : "an ordinary VM")}");
            return ExitCodes.Success;
        });
    }

    /// <summary>vm clone TEMPLATE NAME: a thin clone of the template, each writable disk a qcow2 overlay over the template's.</summary>
    private static int Clone(string[] args)
    {
        var options = RemoteCommand.Read(args, [], [], positionals: 2);
        var template = RemoteCommand.Positional(options, 0, "the template (id or name)");
        var spec = new CloneSpec { Name = RemoteCommand.Positional(options, 1, "the new VM's name") };
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            using var body = ApiClient.Json(spec, ApiJsonContext.Default.CloneSpec);
            var answer = await api.SendAsync(HttpMethod.Post, ApiClient.VmPath(template, "clone"), ApiJsonContext.Default.VmResource, body).ConfigureAwait(false);
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag)
                ? answer.Json
                : $"created {answer.Value.Name} ({answer.Value.Id:D}) from template {template}");
            return ExitCodes.Success;
        });
    }

    /// <summary>start, stop, kill, pause, resume, reboot, migrate-cancel: POST the action, print the VM's state once it is done.</summary>
    private static int Action(string action, string[] args, string[] extraOptions)
    {
        var options = RemoteCommand.Read(args, extraOptions, [], positionals: 1);
        var vm = RemoteCommand.Positional(options, 0, "the VM (id or name)");
        var query = options.Has("--timeout") ? $"?timeout={options.GetInt("--timeout", 0)}" : "";
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            var answer = await api.SendAsync(HttpMethod.Post, ApiClient.VmPath(vm, action) + query, ApiJsonContext.Default.VmResource).ConfigureAwait(false);
            var state = answer.Value.ExitReason is null ? answer.Value.State : $"{answer.Value.State} ({answer.Value.ExitReason})";
            if (options.Has(RemoteCommand.JsonFlag))
            {
                RemoteCommand.Print(answer.Json);
            }

            // A start that does not leave the VM running failed, whatever the HTTP status: `vm start x && vm console x`
            // must not go on to a console of a VM that is not there.
            if (action is "start" or "reboot" && answer.Value.State is not ("running" or "paused"))
            {
                return Program.Fail(ExitCodes.RuntimeError, $"{answer.Value.Name} did not start: {state}");
            }

            if (!options.Has(RemoteCommand.JsonFlag))
            {
                RemoteCommand.Print($"{answer.Value.Name}: {state}");
            }

            return ExitCodes.Success;
        });
    }

    /// <summary>vm snapshot VM NAME [--stop]: the daemon writes the VM whole into a snapshot it keeps under NAME.</summary>
    private static int Snapshot(string[] args)
    {
        var options = RemoteCommand.Read(args, [], ["--stop"], positionals: 2);
        var vm = RemoteCommand.Positional(options, 0, "the VM (id or name)");
        var spec = new SnapshotSpec { Name = RemoteCommand.Positional(options, 1, "the snapshot's name"), Stop = options.Has("--stop") };
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            using var body = ApiClient.Json(spec, ApiJsonContext.Default.SnapshotSpec);
            var answer = await api.SendAsync(HttpMethod.Post, ApiClient.VmPath(vm, "snapshots"), ApiJsonContext.Default.SnapshotResource, body).ConfigureAwait(false);
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag)
                ? answer.Json
                : $"{vm}: snapshot {answer.Value.Name} written ({(answer.Value.RamBytes ?? 0) >> 20} MiB of RAM){(spec.Stop ? ", VM stopped" : "")}");
            return ExitCodes.Success;
        });
    }

    private static int Snapshots(string[] args)
    {
        var options = RemoteCommand.Read(args, [], [], positionals: 1);
        var vm = RemoteCommand.Positional(options, 0, "the VM (id or name)");
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            var answer = await api.SendAsync(HttpMethod.Get, ApiClient.VmPath(vm, "snapshots"), ApiJsonContext.Default.IReadOnlyListSnapshotResource).ConfigureAwait(false);
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag)
                ? answer.Json
                : string.Join('\n', answer.Value.Select(s => $"{s.Name}  {s.CreatedAt:yyyy-MM-dd HH:mm:ss}Z  {s.SizeBytes >> 20} MiB")));
            return ExitCodes.Success;
        });
    }

    /// <summary>vm display VM: each head's size and where a VNC client on the daemon's host reaches it.</summary>
    private static int Display(string[] args)
    {
        var options = RemoteCommand.Read(args, [], [], positionals: 1);
        var vm = RemoteCommand.Positional(options, 0, "the VM (id or name)");
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            var answer = await api.SendAsync(HttpMethod.Get, ApiClient.VmPath(vm, "display"), ApiJsonContext.Default.DisplayResource).ConfigureAwait(false);
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag)
                ? answer.Json
                : string.Join('\n', answer.Value.Heads.Select(h =>
                    $"head {h.Head}  {h.Width}x{h.Height}  {(h.Tcp is { } tcp ? $"vnc://{tcp} (one-time tickets)" : "through the daemon only")}")));
            return ExitCodes.Success;
        });
    }

    /// <summary>vm screenshot VM [--head N] FILE.png: the head's picture now, written to FILE.</summary>
    private static int Screenshot(string[] args)
    {
        var options = RemoteCommand.Read(args, ["--head"], [], positionals: 2);
        var vm = RemoteCommand.Positional(options, 0, "the VM (id or name)");
        var file = RemoteCommand.Positional(options, 1, "the PNG file to write");
        var head = options.GetInt("--head", 0);
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            var png = await api.GetBytesAsync(ApiClient.VmPath(vm, $"screenshot?head={head}")).ConfigureAwait(false);
            await File.WriteAllBytesAsync(file, png).ConfigureAwait(false);
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag) ? $"{{\"path\":{System.Text.Json.JsonSerializer.Serialize(Path.GetFullPath(file), ApiJsonContext.Default.String)},\"bytes\":{png.Length}}}" : $"{file}: {png.Length} bytes");
            return ExitCodes.Success;
        });
    }

    /// <summary>vm migrate VM --to URL ...: the daemon moves the running VM, live, to the daemon at URL.</summary>
    private static int Migrate(string[] args)
    {
        var options = RemoteCommand.Read(args, ["--to", "--to-token", "--to-fingerprint", "--to-net", "--downtime-ms", "--max-bandwidth"], ["--auto-converge"], positionals: 1);
        var vm = RemoteCommand.Positional(options, 0, "the VM (id or name)");
        var spec = new MigrateSpec
        {
            To = options.Get("--to") ?? throw new UsageException("vm migrate needs --to URL: the daemon to move the VM to"),
            Token = options.Get("--to-token"),
            Fingerprint = options.Get("--to-fingerprint"),
            DowntimeMs = options.Has("--downtime-ms") ? options.GetInt("--downtime-ms", 0) : null,
            MaxBandwidth = options.Get("--max-bandwidth") is { } bandwidth
                ? long.TryParse(bandwidth, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value)
                    ? value : throw new UsageException($"--max-bandwidth '{bandwidth}' is not a whole number of bytes per second")
                : null,
            AutoConverge = options.Has("--auto-converge"),
            Nics = options.Has("--to-net") ? [.. options.GetAll("--to-net").Select(VmSpecOptions.Nic)] : null,
        };
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            using var body = ApiClient.Json(spec, ApiJsonContext.Default.MigrateSpec);
            var answer = await api.SendAsync(HttpMethod.Post, ApiClient.VmPath(vm, "migrate"), ApiJsonContext.Default.MigrationResource, body).ConfigureAwait(false);
            var done = answer.Value;
            RemoteCommand.Print(options.Has(RemoteCommand.JsonFlag)
                ? answer.Json
                : $"{done.Vm}: migrated to {done.Destination} in {done.TotalMs} ms ({done.Rounds} rounds, {done.BytesSent >> 20} MiB, downtime {done.DowntimeMs} ms)");
            return ExitCodes.Success;
        });
    }

    /// <summary>vm restore VM NAME: starts the stopped VM from its snapshot NAME.</summary>
    private static int Restore(string[] args)
    {
        var options = RemoteCommand.Read(args, [], [], positionals: 2);
        var vm = RemoteCommand.Positional(options, 0, "the VM (id or name)");
        var name = RemoteCommand.Positional(options, 1, "the snapshot's name");
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            var answer = await api.SendAsync(HttpMethod.Post, ApiClient.VmPath(vm, $"snapshots/{Uri.EscapeDataString(name)}/restore"), ApiJsonContext.Default.VmResource).ConfigureAwait(false);
            var state = answer.Value.ExitReason is null ? answer.Value.State : $"{answer.Value.State} ({answer.Value.ExitReason})";
            if (options.Has(RemoteCommand.JsonFlag))
            {
                RemoteCommand.Print(answer.Json);
            }

            if (answer.Value.State is not ("running" or "paused"))
            {
                return Program.Fail(ExitCodes.RuntimeError, $"{answer.Value.Name} did not start from {name}: {state}");
            }

            if (!options.Has(RemoteCommand.JsonFlag))
            {
                RemoteCommand.Print($"{answer.Value.Name}: {state} (from snapshot {name})");
            }

            return ExitCodes.Success;
        });
    }

    private static int Delete(string[] args)
    {
        var options = RemoteCommand.Read(args, [], [], positionals: 1);
        var vm = RemoteCommand.Positional(options, 0, "the VM (id or name)");
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            await api.SendAsync(HttpMethod.Delete, ApiClient.VmPath(vm)).ConfigureAwait(false);
            // 204 has no body: --json prints nothing, the exit code says it worked.
            if (!options.Has(RemoteCommand.JsonFlag))
            {
                RemoteCommand.Print($"deleted {vm}");
            }

            return ExitCodes.Success;
        });
    }
}
