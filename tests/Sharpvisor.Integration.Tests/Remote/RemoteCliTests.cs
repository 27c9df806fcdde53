using System.Diagnostics;
using System.Text.Json;
using Sharpvisor.Api;

namespace Sharpvisor.Integration.Tests.Remote;

/// <summary>
/// The real <c>sharpvisor</c> CLI against a real <c>sharpvisor serve</c> on loopback (and real VMMs on /dev/kvm
/// for the lifecycle): what it prints, its exit codes, and what the daemon holds afterwards.
/// </summary>
public sealed class RemoteCliTests(DaemonFixture daemon) : IClassFixture<DaemonFixture>
{
    [Fact]
    public async Task CreateListShowAndDeleteWithTablesAndJson()
    {
        var kernel = Path.Combine(daemon.ImagesDirectory, "vmlinux-cli-test");
        await File.WriteAllBytesAsync(kernel, [0x7f, (byte)'E', (byte)'L', (byte)'F']);
        var created = await daemon.CliAsync("vm", "create", "web-cli", "--cpus", "2", "--memory", "1G", "--kernel", kernel,
            "--cmdline", "console=ttyS0", "--net", "tap=tapcli0,mac=02:AA:00:00:00:01", "--console", "virtio");
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Matches(@"^created web-cli \([0-9a-f-]{36}\)\n$", created.Stdout);

        var list = await daemon.CliAsync("vm", "list");
        Assert.True(list.ExitCode == 0, list.ToString());
        var lines = RemoteCli.Lines(list.Stdout);
        Assert.Matches(@"^NAME +STATE +VCPUS +MEMORY +ID$", lines[0]);
        var row = Assert.Single(lines, line => line.StartsWith("web-cli ", StringComparison.Ordinal));
        Assert.Matches(@"^web-cli +defined +2 +1G +[0-9a-f-]{36}$", row);
        // Aligned: every column starts at its header's offset in every line.
        foreach (var column in new[] { "STATE", "VCPUS", "MEMORY", "ID" })
        {
            var at = lines[0].IndexOf(column, StringComparison.Ordinal);
            Assert.All(lines, line => Assert.True(line[at - 1] == ' ' && line[at] != ' ', $"column {column} is not at {at} in '{line}'"));
        }

        var json = await daemon.CliAsync("vm", "list", "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var vms = JsonSerializer.Deserialize(json.Stdout, ApiJsonContext.Default.IReadOnlyListVmResource)!;
        var vm = Assert.Single(vms, v => v.Name == "web-cli");
        Assert.Equal((2, 1024, kernel, "console=ttyS0", "virtio"), (vm.Vcpus, vm.MemoryMiB, vm.Kernel, vm.Cmdline, vm.Console));
        Assert.Equal(new NicSpec("tapcli0", "02:aa:00:00:00:01"), Assert.Single(vm.Nics));

        var show = await daemon.CliAsync("vm", "show", "web-cli");
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Contains($"id:          {vm.Id}\n", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("state:       defined\n", show.Stdout, StringComparison.Ordinal);
        Assert.Contains($"kernel:      {kernel}\n", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("net0:        tap tapcli0, mac 02:aa:00:00:00:01\n", show.Stdout, StringComparison.Ordinal);

        // By id, --json: the API's own JSON.
        var showJson = await daemon.CliAsync("vm", "show", vm.Id.ToString(), "--json");
        Assert.Equal(vm.Id, JsonSerializer.Deserialize(showJson.Stdout, ApiJsonContext.Default.VmResource)!.Id);
        Assert.StartsWith("{\"id\":", showJson.Stdout, StringComparison.Ordinal);

        var taken = await daemon.CliAsync("vm", "create", "web-cli", "--guest", "hello");
        Assert.True(taken.ExitCode == 1, taken.ToString());
        Assert.StartsWith("sharpvisor: error: ", taken.Stderr, StringComparison.Ordinal);

        var deleted = await daemon.CliAsync("vm", "delete", "web-cli");
        Assert.True(deleted.ExitCode == 0, deleted.ToString());
        var gone = await daemon.CliAsync("vm", "show", "web-cli");
        Assert.Equal(1, gone.ExitCode);
        Assert.Equal("sharpvisor: error: no VM with id or name 'web-cli'\n", gone.Stderr);
        Assert.Equal("", gone.Stdout);
    }

    [Fact]
    public async Task ATemplateIsMadeAndClonedWithAQcow2OverlayAndAStartOfItIsRefused()
    {
        var disk = Path.Combine(daemon.ImagesDirectory, "gold-cli.raw");
        await File.WriteAllBytesAsync(disk, new byte[1 << 20]);
        Assert.Equal(0, (await daemon.CliAsync("vm", "create", "gold-cli", "--guest", "idle", "--memory", "64M", "--disk", disk)).ExitCode);

        var made = await daemon.CliAsync("vm", "template", "gold-cli");
        Assert.True(made.ExitCode == 0, made.ToString());
        Assert.Equal("gold-cli: a template\n", made.Stdout);
        var start = await daemon.CliAsync("vm", "start", "gold-cli");
        Assert.True(start.ExitCode == 1, start.ToString());
        Assert.Contains("is a template and never runs", start.Stderr, StringComparison.Ordinal);

        var cloned = await daemon.CliAsync("vm", "clone", "gold-cli", "desk-cli");
        Assert.True(cloned.ExitCode == 0, cloned.ToString());
        Assert.Matches(@"^created desk-cli \([0-9a-f-]{36}\) from template gold-cli\n$", cloned.Stdout);
        var overlay = Path.Combine(daemon.ImagesDirectory, "desk-cli-disk0.qcow2");
        var show = await daemon.CliAsync("vm", "show", "desk-cli");
        Assert.Contains($"disk0:       {overlay} (qcow2)\n", show.Stdout, StringComparison.Ordinal);
        Assert.Equal(disk, Sharpvisor.Storage.Qcow2.Qcow2Image.ReadInfo(overlay).BackingFile);

        // A clone reads the template's disk: it stays a template until the clone is gone.
        var off = await daemon.CliAsync("vm", "template", "gold-cli", "--off");
        Assert.True(off.ExitCode == 1, off.ToString());
        Assert.Contains("'desk-cli'", off.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, (await daemon.CliAsync("vm", "delete", "desk-cli")).ExitCode);
        off = await daemon.CliAsync("vm", "template", "gold-cli", "--off");
        Assert.Equal("gold-cli: an ordinary VM\n", off.Stdout);
        Assert.Equal(0, (await daemon.CliAsync("vm", "delete", "gold-cli")).ExitCode);
        File.Delete(overlay);
    }

    [Fact]
    public async Task AnImageIsUploadedListedOverlaidDownloadedAndDeletedThroughThePoolCommands()
    {
        var source = Path.Combine(daemon.DataDirectory, "upload-cli.raw");
        var bytes = Enumerable.Range(0, 1 << 20).Select(i => (byte)(i % 251)).ToArray();
        await File.WriteAllBytesAsync(source, bytes);

        var uploaded = await daemon.CliAsync("pool", "upload", "default", source, "--name", "pool-cli.raw");
        Assert.True(uploaded.ExitCode == 0, uploaded.ToString());
        Assert.Equal("default/pool-cli.raw: raw, 1 MiB, uploaded\n", uploaded.Stdout);
        var overlay = await daemon.CliAsync("pool", "create-image", "default", "pool-cli.qcow2", "--backing", "pool-cli.raw");
        Assert.True(overlay.ExitCode == 0, overlay.ToString());
        Assert.Equal("default/pool-cli.qcow2: qcow2, 1 MiB, created\n", overlay.Stdout);

        var pools = await daemon.CliAsync("pool", "list");
        Assert.Matches(@"(?m)^default\s+\d+\s+\S+ \S+\s+\S+ \S+\s+" + System.Text.RegularExpressions.Regex.Escape(daemon.ImagesDirectory) + "$", pools.Stdout);
        var images = await daemon.CliAsync("pool", "images", "default");
        Assert.Matches(@"(?m)^pool-cli\.qcow2\s+qcow2\s+1 MiB\s+\S+ \S+\s+pool-cli\.raw\s+-$", images.Stdout);
        Assert.Matches(@"(?m)^pool-cli\.raw\s+raw\s+1 MiB\s+\S+ \S+\s+-\s+-$", images.Stdout);

        var copy = Path.Combine(daemon.DataDirectory, "download-cli.raw");
        var downloaded = await daemon.CliAsync("pool", "download", "default", "pool-cli.raw", copy);
        Assert.True(downloaded.ExitCode == 0, downloaded.ToString());
        Assert.Equal(bytes, await File.ReadAllBytesAsync(copy));
        var again = await daemon.CliAsync("pool", "download", "default", "pool-cli.raw", copy);
        Assert.True(again.ExitCode == 1 && again.Stderr.Contains("exists already", StringComparison.Ordinal), again.ToString());

        var held = await daemon.CliAsync("pool", "delete-image", "default", "pool-cli.raw");
        Assert.True(held.ExitCode == 1 && held.Stderr.Contains("overlay over 'pool-cli.raw'", StringComparison.Ordinal), held.ToString());
        Assert.Equal(0, (await daemon.CliAsync("pool", "delete-image", "default", "pool-cli.qcow2")).ExitCode);
        Assert.Equal("default/pool-cli.raw: deleted\n", (await daemon.CliAsync("pool", "delete-image", "default", "pool-cli.raw")).Stdout);
        var bad = await daemon.CliAsync("pool", "upload", "default", source, "--name", "../escape");
        Assert.True(bad.ExitCode == 2 && bad.Stderr.StartsWith("sharpvisor: error: name: must be 1 to 128", StringComparison.Ordinal), bad.ToString());
        var unknown = await daemon.CliAsync("pool", "images", "nowhere");
        Assert.True(unknown.ExitCode == 1 && unknown.Stderr.Contains("no storage pool named 'nowhere'", StringComparison.Ordinal), unknown.ToString());
        Assert.False(File.Exists(Path.Combine(daemon.ImagesDirectory, "pool-cli.raw")));
    }

    [Fact]
    public async Task AStartThatDoesNotEndRunningExits1WithTheReason()
    {
        // A kernel file that is no kernel: its VMM refuses it before it opens KVM, on any machine.
        var kernel = Path.Combine(daemon.ImagesDirectory, "not-a-kernel");
        await File.WriteAllTextAsync(kernel, "plain text, not an ELF or a bzImage\n");
        Assert.Equal(0, (await daemon.CliAsync("vm", "create", "dud-cli", "--kernel", kernel)).ExitCode);

        var start = await daemon.CliAsync("vm", "start", "dud-cli");

        Assert.True(start.ExitCode == 1, start.ToString());
        Assert.Equal("", start.Stdout);
        Assert.StartsWith("sharpvisor: error: dud-cli did not start: failed (", start.Stderr, StringComparison.Ordinal);
        Assert.Contains("not-a-kernel", start.Stderr, StringComparison.Ordinal);
        var json = await daemon.CliAsync("vm", "start", "dud-cli", "--json");
        Assert.True(json.ExitCode == 1, json.ToString());
        Assert.Equal("failed", JsonSerializer.Deserialize(json.Stdout, ApiJsonContext.Default.VmResource)!.State);
        Assert.Equal(0, (await daemon.CliAsync("vm", "delete", "dud-cli")).ExitCode);
    }

    [Fact]
    public async Task TheDaemonsValidationErrorsAreUsageErrorsNamingEachField()
    {
        var result = await daemon.CliAsync("vm", "create", "bad-cli", "--cpus", "0", "--memory", "4M", "--guest", "hello");

        Assert.True(result.ExitCode == 2, result.ToString());
        var lines = RemoteCli.Lines(result.Stderr);
        Assert.Equal(2, lines.Length);
        // In the CLI's own terms: the flag and the value the user typed, not the API's field names.
        Assert.Contains(lines, line => line.StartsWith("sharpvisor: error: --cpus '0': must be between 1 and 255", StringComparison.Ordinal));
        Assert.Contains("sharpvisor: error: --memory '4M': must be between 16M and 64G", lines);
        Assert.DoesNotContain("bad-cli", (await daemon.CliAsync("vm", "list")).Stdout, StringComparison.Ordinal);

        var huge = await daemon.CliAsync("vm", "create", "bad-cli", "--memory", "1T", "--guest", "nope");
        Assert.True(huge.ExitCode == 2, huge.ToString());
        Assert.Contains("sharpvisor: error: --memory '1T': must be between 16M and 64G", RemoteCli.Lines(huge.Stderr));
        Assert.Contains(RemoteCli.Lines(huge.Stderr), line => line.StartsWith("sharpvisor: error: --guest 'nope': 'nope' is not a scenario of the built-in guest", StringComparison.Ordinal));

        var missing = Path.Combine(daemon.ImagesDirectory, "no-such-disk.img");
        var noDisk = await daemon.CliAsync("vm", "create", "bad-cli", "--guest", "hello", "--disk", missing);
        Assert.True(noDisk.ExitCode == 2, noDisk.ToString());
        Assert.Equal($"sharpvisor: error: --disk '{missing}': '{missing}' does not exist on this host\n", noDisk.Stderr);
    }

    [Fact]
    public async Task AWrongTokenChangesNothingAndExits1()
    {
        var flag = await daemon.CliAsync("vm", "create", "intruder-cli", "--guest", "hello", "--token", "0123");
        var env = await RemoteCli.RunAsync(["vm", "delete", "testguest", "--server", daemon.Url], new Dictionary<string, string> { ["SHARPVISOR_TOKEN"] = "wrong" });

        Assert.True(flag.ExitCode == 1, flag.ToString());
        Assert.True(env.ExitCode == 1, env.ToString());
        Assert.Contains("token", flag.Stderr, StringComparison.Ordinal);
        var list = await daemon.CliAsync("vm", "list");
        Assert.DoesNotContain("intruder-cli", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("testguest", list.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheEnvironmentNamesTheDaemonAndTheToken()
    {
        var result = await RemoteCli.RunAsync(["vm", "list"], new Dictionary<string, string>
        {
            ["SHARPVISOR_URL"] = daemon.Url,
            ["SHARPVISOR_TOKEN"] = daemon.Token,
            ["SHARPVISOR_DATA_DIR"] = "/nonexistent",
        });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("testguest", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnreachableDaemonIsARuntimeErrorSayingWhere()
    {
        var noServer = await RemoteCli.RunAsync(["vm", "list", "--server", "http://127.0.0.1:1", "--token", "x"]);
        var noServeJson = await RemoteCli.RunAsync(["vm", "list", "--data-dir", Path.Combine(daemon.DataDirectory, "missing")]);

        Assert.True(noServer.ExitCode == 1, noServer.ToString());
        Assert.StartsWith("sharpvisor: error: cannot reach the daemon at http://127.0.0.1:1: ", noServer.Stderr, StringComparison.Ordinal);
        Assert.EndsWith("(is `sharpvisor serve` running?)\n", noServer.Stderr, StringComparison.Ordinal);
        Assert.True(noServeJson.ExitCode == 1, noServeJson.ToString());
        Assert.Contains("serve.json", noServeJson.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "vm" }, "vm needs a subcommand")]
    [InlineData(new[] { "vm", "explode", "x" }, "unknown vm subcommand 'explode'")]
    [InlineData(new[] { "vm", "show" }, "missing the VM")]
    [InlineData(new[] { "vm", "start", "a", "b" }, "unexpected argument 'b'")]
    [InlineData(new[] { "vm", "stop", "a", "--timeout", "soon" }, "--timeout 'soon' is not a whole number")]
    [InlineData(new[] { "vm", "create", "x", "--memory", "lots" }, "--memory 'lots'")]
    [InlineData(new[] { "vm", "create", "x", "--kernel", "k", "--guest", "hello" }, "not both")]
    [InlineData(new[] { "vm", "list", "--server", "ftp://x" }, "'ftp://x' is not a daemon URL")]
    [InlineData(new[] { "events", "--after", "-3" }, "--after '-3'")]
    public async Task BadCommandLinesExit2WithoutTouchingTheDaemon(string[] args, string message)
    {
        var result = await daemon.CliAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("sharpvisor: error: ", result.Stderr, StringComparison.Ordinal);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
        Assert.Single(RemoteCli.Lines(result.Stderr));
    }

    [Fact]
    public async Task AnUnknownStateFilterIsA400AndSoAUsageError()
    {
        var result = await daemon.CliAsync("vm", "list", "--state", "sleepy");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("sharpvisor: error: state: ", result.Stderr, StringComparison.Ordinal);
    }

    [KvmFact]
    public async Task LifecycleFromStartToDeleteWithEventsAndConflicts()
    {
        Assert.Equal(0, (await daemon.CliAsync("vm", "create", "life-cli", "--guest", "idle", "--memory", "32M")).ExitCode);
        // Every event of this VM from the first on, so the stream cannot miss the start however late it connects.
        using var events = RemoteCli.Start(["events", "--vm", "life-cli", "--after", "0", .. daemon.DataDirOption]);
        var eventsOutput = ReadLinesAsync(events);

        await ExpectAsync(["vm", "start", "life-cli"], "life-cli: running\n");
        var again = await daemon.CliAsync("vm", "start", "life-cli");
        Assert.True(again.ExitCode == 1, again.ToString());
        Assert.StartsWith("sharpvisor: error: ", again.Stderr, StringComparison.Ordinal);
        var deleteRunning = await daemon.CliAsync("vm", "delete", "life-cli");
        Assert.True(deleteRunning.ExitCode == 1, deleteRunning.ToString());

        await ExpectAsync(["vm", "pause", "life-cli"], "life-cli: paused\n");
        Assert.Matches(@"\nlife-cli +paused +1 +32M ", "\n" + (await daemon.CliAsync("vm", "list", "--state", "paused")).Stdout);
        await ExpectAsync(["vm", "resume", "life-cli"], "life-cli: running\n");
        var stopped = await daemon.CliAsync("vm", "stop", "life-cli", "--timeout", "5", "--json");
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        Assert.Equal("stopped", JsonSerializer.Deserialize(stopped.Stdout, ApiJsonContext.Default.VmResource)!.State);
        await ExpectAsync(["vm", "start", "life-cli"], "life-cli: running\n");
        var killed = await daemon.CliAsync("vm", "kill", "life-cli");
        Assert.True(killed.ExitCode == 0, killed.ToString());
        Assert.StartsWith("life-cli: stopped", killed.Stdout, StringComparison.Ordinal);
        await ExpectAsync(["vm", "delete", "life-cli"], "deleted life-cli\n");

        // The stream printed the state changes, one line each, with the VM's name.
        var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(30));
        while (!eventsOutput.Text.Contains("  deleted  ", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        events.Kill();
        await events.WaitForExitAsync();
        var text = eventsOutput.Text;
        Assert.Matches(@"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  life-cli  state  running$", text);
        Assert.Matches(@"(?m)^\S+ \S+  life-cli  state  paused$", text);
        Assert.Matches(@"(?m)^\S+ \S+  life-cli  state  stopped", text);
    }

    [KvmFact]
    public async Task ADisplayDefinedThroughTheDaemonShowsWhereItsHeadsAreAndTheirPictures()
    {
        var created = await daemon.CliAsync("vm", "create", "screen-cli", "--guest", "display", "--cmdline", "width=200 height=120",
            "--memory", "64M", "--display", "heads=2,size=640x480");
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Equal(new DisplaySpec(2, 640, 480, VncPasswordSet: false), JsonSerializer.Deserialize((await daemon.CliAsync("vm", "show", "screen-cli", "--json")).Stdout, ApiJsonContext.Default.VmResource)!.Display);
        await ExpectAsync(["vm", "start", "screen-cli"], "screen-cli: running\n");

        // The guest draws once it has found the device: look until head 0 has its size.
        var display = await daemon.CliAsync("vm", "display", "screen-cli");
        for (var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(60)); !display.Stdout.Contains("200x120", StringComparison.Ordinal) && DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            display = await daemon.CliAsync("vm", "display", "screen-cli");
        }

        Assert.Equal("head 0  200x120  through the daemon only\nhead 1  640x480  through the daemon only\n", display.Stdout);
        var file = Path.Combine(daemon.ImagesDirectory, "screen-cli.png");
        var shot = await daemon.CliAsync("vm", "screenshot", "screen-cli", file);
        Assert.True(shot.ExitCode == 0, shot.ToString());
        var image = PngImage.Read(file);
        Assert.Equal((200, 120), (image.Width, image.Height));
        Assert.Equal(((byte)(17 + 9), (byte)9, (byte)17), image[17, 9]); // the guest's pattern: red x + y, green y, blue x
        Assert.Equal(((byte)62, (byte)119, (byte)199), image[199, 119]); // 199 + 119 = 318, low byte 62

        // A browser's way in: RFB over the manager's WebSocket, with the token in the query as for the console.
        using (var limit = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromSeconds(60))))
        {
            var vnc = new Uri($"{daemon.Url.Replace("http", "ws", StringComparison.Ordinal).TrimEnd('/')}/api/v1/vms/screen-cli/display/0/vnc?access_token={daemon.Token}");
            await using var rfb = await WebSocketRfb.ConnectAsync(vnc, limit.Token);
            Assert.Equal((200, 120), await rfb.HandshakeAsync(limit.Token));
            var screen = await rfb.FullUpdateAsync(200, 120, limit.Token);
            var at = ((9 * 200) + 17) * 4;
            Assert.Equal(new byte[] { 17, 9, 26 }, screen[at..(at + 3)]); // B x, G y, R x + y
        }

        var noHead = await daemon.CliAsync("vm", "screenshot", "screen-cli", "--head", "2", file);
        Assert.True(noHead.ExitCode == 2, noHead.ToString());
        Assert.Contains("head: must be 0 to 1: the VM has 2 heads", noHead.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, (await daemon.CliAsync("vm", "kill", "screen-cli")).ExitCode);
        var stopped = await daemon.CliAsync("vm", "display", "screen-cli");
        Assert.True(stopped.ExitCode == 1, stopped.ToString());
        Assert.Equal(0, (await daemon.CliAsync("vm", "create", "blind-cli", "--guest", "idle", "--memory", "32M")).ExitCode);
        var blind = await daemon.CliAsync("vm", "display", "blind-cli");
        Assert.True(blind.ExitCode == 1 && blind.Stderr.Contains("has no display", StringComparison.Ordinal), blind.ToString());
    }

    [KvmFact]
    public async Task AVncPasswordTheDaemonKeepsGuardsTheTcpPortAndNeverShows()
    {
        var passwordFile = Path.Combine(daemon.ImagesDirectory, "vnc-password");
        await File.WriteAllTextAsync(passwordFile, "pa55word\n");
        var port = VncCapture.FreePort();
        var created = await daemon.CliAsync("vm", "create", "vnc-cli", "--guest", "display", "--cmdline", "width=160 height=100",
            "--memory", "64M", "--display", $"heads=1,size=640x480,listen=127.0.0.1:{port},password-file={passwordFile}");
        Assert.True(created.ExitCode == 0, created.ToString());
        var shown = (await daemon.CliAsync("vm", "show", "vnc-cli", "--json")).Stdout;
        Assert.DoesNotContain("pa55word", shown, StringComparison.Ordinal);
        Assert.Equal(new DisplaySpec(1, 640, 480, $"127.0.0.1:{port}", null, true), JsonSerializer.Deserialize(shown, ApiJsonContext.Default.VmResource)!.Display);
        await ExpectAsync(["vm", "start", "vnc-cli"], "vnc-cli: running\n");

        // A standard client on the TCP port: the password from the definition lets it in, a wrong one does not.
        var file = Path.Combine(daemon.ImagesDirectory, "vnc-cli.png");
        PngImage? image = null;
        for (var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(60)); image?.Width != 160 && DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            var capture = await VncCapture.CaptureAsync(port, file, "pa55word");
            Assert.True(capture.ExitCode == 0, $"gvnccapture with the definition's password failed:\n{capture}");
            image = PngImage.Read(file);
        }

        Assert.Equal((160, 100), (image!.Width, image.Height)); // the guest has drawn
        Assert.Equal(((byte)(17 + 9), (byte)9, (byte)17), image[17, 9]);
        var refused = Path.Combine(daemon.ImagesDirectory, "refused.png");
        var wrong = await VncCapture.CaptureAsync(port, refused, "guessing");
        Assert.True(wrong.ExitCode != 0 && !File.Exists(refused), $"a wrong password was let in:\n{wrong}");

        // The daemon's own way in (its WebSocket, for the web UI) asks for no VNC password: the daemon checked its token.
        using (var limit = new CancellationTokenSource(TestTime.Ceiling(TimeSpan.FromSeconds(60))))
        {
            var vnc = new Uri($"{daemon.Url.Replace("http", "ws", StringComparison.Ordinal).TrimEnd('/')}/api/v1/vms/vnc-cli/display/0/vnc?access_token={daemon.Token}");
            await using var rfb = await WebSocketRfb.ConnectAsync(vnc, limit.Token);
            Assert.Equal((160, 100), await rfb.HandshakeAsync(limit.Token));
        }

        Assert.Equal(0, (await daemon.CliAsync("vm", "kill", "vnc-cli")).ExitCode);
        var empty = Path.Combine(daemon.ImagesDirectory, "empty-password");
        await File.WriteAllTextAsync(empty, "\n");
        var refusedFile = await daemon.CliAsync("vm", "create", "vnc-bad", "--guest", "display", "--display", $"heads=1,password-file={empty}");
        Assert.True(refusedFile.ExitCode == 2 && refusedFile.Stderr.Contains("its first line must be the password", StringComparison.Ordinal), refusedFile.ToString());
        var tooLong = Path.Combine(daemon.ImagesDirectory, "long-password");
        await File.WriteAllTextAsync(tooLong, "123456789\n");
        var refusedLong = await daemon.CliAsync("vm", "create", "vnc-bad", "--guest", "display", "--display", $"heads=1,password-file={tooLong}");
        Assert.True(refusedLong.ExitCode == 2 && refusedLong.Stderr.Contains("must be 1 to 8 printable ASCII characters", StringComparison.Ordinal), refusedLong.ToString());
    }

    [KvmFact]
    public async Task ASnapshotTakenStoppedListedAndRestoredFromTheCommandLine()
    {
        Assert.Equal(0, (await daemon.CliAsync("vm", "create", "snap-cli", "--guest", "idle", "--memory", "32M")).ExitCode);
        await ExpectAsync(["vm", "start", "snap-cli"], "snap-cli: running\n");

        var taken = await daemon.CliAsync("vm", "snapshot", "snap-cli", "first", "--stop");
        Assert.True(taken.ExitCode == 0, taken.ToString());
        Assert.Matches(@"^snap-cli: snapshot first written \(\d+ MiB of RAM\), VM stopped\n$", taken.Stdout);
        Assert.Equal("stopped", JsonSerializer.Deserialize((await daemon.CliAsync("vm", "show", "snap-cli", "--json")).Stdout, ApiJsonContext.Default.VmResource)!.State);

        var listed = await daemon.CliAsync("vm", "snapshots", "snap-cli");
        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.Matches(@"^first  \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  32 MiB\n$", listed.Stdout);

        await ExpectAsync(["vm", "restore", "snap-cli", "first"], "snap-cli: running (from snapshot first)\n");
        var unknown = await daemon.CliAsync("vm", "snapshot", "snap-cli", "../x");
        Assert.True(unknown.ExitCode == 2, unknown.ToString());
        Assert.StartsWith("sharpvisor: error: name: ", unknown.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, (await daemon.CliAsync("vm", "kill", "snap-cli")).ExitCode);
        var missing = await daemon.CliAsync("vm", "restore", "snap-cli", "second");
        Assert.True(missing.ExitCode == 1, missing.ToString());
        Assert.Contains("has no snapshot named 'second'", missing.Stderr, StringComparison.Ordinal);
        await ExpectAsync(["vm", "delete", "snap-cli"], "deleted snap-cli\n");
    }

    [KvmFact]
    public async Task AMigrationTheDestinationRefusesFailsWithItsReasonAndTheVmRunsOn()
    {
        Assert.Equal(0, (await daemon.CliAsync("vm", "create", "mig-cli", "--guest", "idle", "--memory", "32M")).ExitCode);
        await ExpectAsync(["vm", "start", "mig-cli"], "mig-cli: running\n");

        var noDestination = await daemon.CliAsync("vm", "migrate", "mig-cli");
        Assert.True(noDestination.ExitCode == 2, noDestination.ToString());
        Assert.Equal("sharpvisor: error: vm migrate needs --to URL: the daemon to move the VM to\n", noDestination.Stderr);

        // To itself: the destination (this daemon) has a VM of that name, so nothing moves.
        var refused = await daemon.CliAsync("vm", "migrate", "mig-cli", "--to", daemon.Url, "--to-token", daemon.Token, "--downtime-ms", "100");
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("the destination already has a VM named 'mig-cli'", refused.Stderr, StringComparison.Ordinal);
        var badBandwidth = await daemon.CliAsync("vm", "migrate", "mig-cli", "--to", daemon.Url, "--max-bandwidth", "lots");
        Assert.True(badBandwidth.ExitCode == 2, badBandwidth.ToString());
        var nothingToCancel = await daemon.CliAsync("vm", "migrate-cancel", "mig-cli");
        Assert.True(nothingToCancel.ExitCode == 1, nothingToCancel.ToString());
        Assert.Contains("is not migrating", nothingToCancel.Stderr, StringComparison.Ordinal);

        await ExpectAsync(["vm", "kill", "mig-cli"], "mig-cli: stopped (killed on request)\n");
        await ExpectAsync(["vm", "delete", "mig-cli"], "deleted mig-cli\n");
    }

    private async Task ExpectAsync(string[] args, string stdout)
    {
        var result = await daemon.CliAsync(args);
        Assert.True(result.ExitCode == 0 && result.Stdout == stdout, $"expected {stdout}\n{result}");
    }

    /// <summary>Collects a running process's stdout in the background.</summary>
    private static LineCollector ReadLinesAsync(Process process)
    {
        var collector = new LineCollector();
        process.OutputDataReceived += (_, e) => collector.Add(e.Data);
        process.BeginOutputReadLine();
        return collector;
    }

    private sealed class LineCollector
    {
        private readonly System.Text.StringBuilder _text = new();

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        public void Add(string? line)
        {
            if (line is not null)
            {
                lock (_text)
                {
                    _text.Append(line).Append('\n');
                }
            }
        }
    }
}
