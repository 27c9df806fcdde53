using System.Net;
using System.Text;
using Sharpvisor.Api;
using Sharpvisor.Cli;
using Sharpvisor.Cli.Commands;
using Sharpvisor.Cli.Remote;

namespace Sharpvisor.Integration.Tests.Remote;

/// <summary>The client commands' parsing and formatting, without a daemon.</summary>
public sealed class RemoteCliParsingTests
{
    private static readonly HashSet<string> NoOptions = [];

    [Fact]
    public void CreateFlagsBecomeTheApisSpecWithAbsolutePaths()
    {
        var options = Read("vm-1", "--cpus", "4", "--memory", "2G", "--kernel", "vmlinux", "--initrd", "/boot/initrd", "--cmdline", "quiet",
            "--disk", "root.img", "--disk", "/data/ro.img,readonly", "--net", "tap=tap0", "--net", "tap=tap1,mac=02:AB:cd:00:00:01", "--console", "virtio");

        var spec = VmSpecOptions.Parse(options.Positionals[0], options);

        Assert.Equal("vm-1", spec.Name);
        Assert.Equal((4, 2048), (spec.Vcpus, spec.MemoryMiB));
        Assert.Equal(Path.Combine(Environment.CurrentDirectory, "vmlinux"), spec.Kernel);
        Assert.Null(spec.BuiltInGuest);
        Assert.Equal(("/boot/initrd", "quiet", "virtio"), (spec.Initrd, spec.Cmdline, spec.Console));
        Assert.Equal([new DiskSpec(Path.Combine(Environment.CurrentDirectory, "root.img")), new DiskSpec("/data/ro.img", ReadOnly: true)], spec.Disks);
        Assert.Equal([new NicSpec("tap0"), new NicSpec("tap1", "02:ab:cd:00:00:01")], spec.Nics);
    }

    [Fact]
    public void FlagsLeftOutStayNullSoTheDaemonsDefaultsApply()
    {
        var spec = VmSpecOptions.Parse("small", Read("small", "--guest", "serial-echo"));

        Assert.Equal("serial-echo", spec.BuiltInGuest);
        Assert.True(spec is { Vcpus: null, MemoryMiB: null, Kernel: null, Initrd: null, Cmdline: null, Disks: null, Nics: null, Console: null });
    }

    [Theory]
    [InlineData("--kernel|k|--guest|hello", "not both")]
    [InlineData("--memory|1536K", "whole number of MiB")]
    [InlineData("--memory|0", "--memory '0'")]
    [InlineData("--memory|4096T", "too large")]
    [InlineData("--cpus|two", "--cpus 'two' is not a whole number")]
    [InlineData("--console|vga", "--console 'vga' must be serial or virtio")]
    [InlineData("--disk|,readonly", "needs a file path")]
    [InlineData("--disk|a.img,id=root", "id= is not supported")]
    [InlineData("--net|mac=02:00:00:00:00:01", "needs tap=NAME")]
    [InlineData("--net|tap=t0,mac=01:00:00:00:00:01", "mac '01:00:00:00:00:01'")]
    [InlineData("--net|tap=much-too-long-name", "not a valid interface name")]
    public void BadCreateFlagsAreUsageErrors(string flags, string message)
    {
        var e = Assert.Throws<UsageException>(() => VmSpecOptions.Parse("x", Read(["x", .. flags.Split('|')])));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PositionalsAreCountedAndOptionsStillParse()
    {
        var options = new ArgumentReader(["web1", "--timeout", "5"], new HashSet<string> { "--timeout" }, NoOptions, maxPositionals: 1);
        Assert.Equal(["web1"], options.Positionals);
        Assert.Equal(5, options.GetInt("--timeout", 0));

        Assert.Throws<UsageException>(() => new ArgumentReader(["a", "b"], NoOptions, NoOptions, maxPositionals: 1));
        Assert.Throws<UsageException>(() => new ArgumentReader(["a"], NoOptions, NoOptions));
        Assert.Throws<UsageException>(() => new ArgumentReader([""], NoOptions, NoOptions, maxPositionals: 1));
    }

    [Fact]
    public void FlagsWinOverTheEnvironmentWhichWinsOverTheDataDirectory()
    {
        var data = Directory.CreateTempSubdirectory("sharpvisor-endpoint-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(data, "serve.json"), """{"url":"http://127.0.0.1:7001","pid":1}""");
            File.WriteAllText(Path.Combine(data, "token"), "filetoken\n");
            var environment = new Dictionary<string, string> { ["SHARPVISOR_URL"] = "http://127.0.0.1:7002", ["SHARPVISOR_TOKEN"] = "envtoken" };

            var fromFiles = DaemonEndpoint.Resolve(null, null, data, _ => null);
            var fromEnvironment = DaemonEndpoint.Resolve(null, null, data, name => environment.GetValueOrDefault(name));
            var fromFlags = DaemonEndpoint.Resolve("http://localhost:7003/base", "flagtoken", data, name => environment.GetValueOrDefault(name));
            var mixed = DaemonEndpoint.Resolve("http://localhost:7003", null, data, _ => null);

            Assert.Equal(new DaemonEndpoint(new Uri("http://127.0.0.1:7001/"), "filetoken"), fromFiles);
            Assert.Equal(new DaemonEndpoint(new Uri("http://127.0.0.1:7002/"), "envtoken"), fromEnvironment);
            Assert.Equal(new DaemonEndpoint(new Uri("http://localhost:7003/base/"), "flagtoken"), fromFlags);
            Assert.Equal("filetoken", mixed.Token);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public void NoDaemonAddressAnywhereSaysWhereItLooked()
    {
        var missing = Path.Combine(Path.GetTempPath(), "sharpvisor-no-such-dir-" + Guid.NewGuid());

        var e = Assert.Throws<DaemonUnreachableException>(() => DaemonEndpoint.Resolve(null, null, missing, _ => null));

        Assert.Contains(Path.Combine(missing, "serve.json"), e.Message, StringComparison.Ordinal);
        Assert.Contains("sharpvisor serve", e.Message, StringComparison.Ordinal);
        // A token is optional (the daemon's 401 explains), so a URL alone resolves.
        Assert.Null(DaemonEndpoint.Resolve("http://127.0.0.1:1", null, missing, _ => null).Token);
    }

    [Fact]
    public void TablesAlignColumnsWithoutTrailingBlanks()
    {
        var text = TextTable.Format(["NAME", "STATE"], [["a", "running"], ["longer-name", "x"]]);

        Assert.Equal("NAME         STATE\na            running\nlonger-name  x\n", text);
    }

    [Fact]
    public void TheVmListHasNameStateVcpusMemoryAndId()
    {
        var text = VmText.List([Vm("web1", 2, 512), Vm("db", 16, 65536)]);

        Assert.Equal(
            "NAME  STATE    VCPUS  MEMORY  ID\n" +
            "web1  running  2      512M    00000000-0000-0000-0000-000000000002\n" +
            "db    running  16     64G     00000000-0000-0000-0000-000000000010\n",
            text);
    }

    [Fact]
    public void ShowListsSetFieldsAsAlignedKeyValueLines()
    {
        var vm = Vm("web1", 1, 128) with
        {
            BuiltInGuest = null,
            Kernel = "/k",
            Cmdline = "console=ttyS0",
            Disks = [new DiskSpec("/d.img", ReadOnly: true)],
            Nics = [new NicSpec("tap0")],
            Pid = 42,
        };

        var lines = VmText.Show(vm).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Contains("name:        web1", lines);
        Assert.Contains("kernel:      /k", lines);
        Assert.Contains("cmdline:     console=ttyS0", lines);
        Assert.Contains("disk0:       /d.img (readonly)", lines);
        Assert.Contains("net0:        tap tap0", lines);
        Assert.Contains("pid:         42", lines);
        Assert.Contains("state since: 2026-01-02 03:04:05Z", lines);
        Assert.DoesNotContain(lines, line => line.StartsWith("initrd", StringComparison.Ordinal) || line.StartsWith("guest", StringComparison.Ordinal));
    }

    [Fact]
    public void ValidationProblemsGiveOneLinePerFieldAndOthersTheirDetail()
    {
        var validation = """{"title":"One or more validation errors occurred.","status":400,"errors":{"vcpus":["must be between 1 and 255"],"disks[0].path":["must be absolute","no such file"]}}""";
        var notFound = """{"title":"Not Found","status":404,"detail":"no VM with id or name 'x'"}""";

        Assert.Equal(["vcpus: must be between 1 and 255", "disks[0].path: must be absolute", "disks[0].path: no such file"], ProblemLines.From(HttpStatusCode.BadRequest, validation));
        Assert.Equal(["no VM with id or name 'x'"], ProblemLines.From(HttpStatusCode.NotFound, notFound));
        Assert.Equal(["Conflict"], ProblemLines.From(HttpStatusCode.Conflict, """{"title":"Conflict","status":409}"""));
        Assert.Equal(["the daemon answered 502 BadGateway"], ProblemLines.From(HttpStatusCode.BadGateway, "<html>bad gateway</html>"));
        Assert.Equal(["the daemon answered 500 InternalServerError"], ProblemLines.From(HttpStatusCode.InternalServerError, ""));
        Assert.Equal(2, new ApiException(400, ["x"]).ExitCode);
        Assert.Equal(1, new ApiException(409, ["x"]).ExitCode);
        Assert.Equal(1, new ApiException(401, ["x"]).ExitCode);
    }

    [Fact]
    public async Task ServerSentEventsYieldEachEventsDataAndSkipComments()
    {
        var stream = "id: 1\nevent: state\ndata: {\"a\":1}\n\n: keep-alive\n\nretry: 10\ndata: one\ndata:two\n\nid: 3\n\ndata: unfinished";
        var events = new List<string>();

        await foreach (var data in ServerSentEvents.ReadDataAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(stream))))
        {
            events.Add(data);
        }

        Assert.Equal(["{\"a\":1}", "one\ntwo"], events);
    }

    [Fact]
    public void CtrlAXQuitsEvenAcrossReadsAndCtrlACtrlASendsOne()
    {
        var filter = new ConsoleEscapeFilter();

        Assert.Equal("ab", Filter(filter, "ab\u0001", out var quit));
        Assert.False(quit);
        Assert.Equal("", Filter(filter, "x", out quit));
        Assert.True(quit);
        Assert.Equal("\u0001c", Filter(filter, "\u0001\u0001\u0001qc", out quit));
        Assert.False(quit);
    }

    private static string Filter(ConsoleEscapeFilter filter, string input, out bool quit)
    {
        var bytes = Encoding.ASCII.GetBytes(input);
        return Encoding.ASCII.GetString(filter.Filter(bytes, out quit));
    }

    private static ArgumentReader Read(params string[] args) =>
        new(args, new HashSet<string>(VmSpecOptions.ValueOptions), NoOptions, maxPositionals: 1);

    private static VmResource Vm(string name, int vcpus, int memoryMiB)
    {
        var time = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        return new VmResource
        {
            Id = new Guid($"00000000-0000-0000-0000-{vcpus:x12}"),
            Name = name,
            Vcpus = vcpus,
            MemoryMiB = memoryMiB,
            BuiltInGuest = "idle",
            Cmdline = "",
            Disks = [],
            Nics = [],
            Console = "serial",
            Version = 1,
            CreatedAt = time,
            UpdatedAt = time,
            State = "running",
            StateChangedAt = time,
        };
    }
}
