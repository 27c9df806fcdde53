using System.Text;
using System.Text.Json;
using Sharpvisor.Control;
using Sharpvisor.Vmm.Control;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Vmm.Tests.Control;

public sealed class ControlDispatcherTests
{
    private readonly FakeControlTarget _target = new();

    private ControlReply Handle(string line) => new ControlDispatcher(_target).Handle(Encoding.UTF8.GetBytes(line));

    private static string State(ControlReply reply) => reply.Response.Result!.Value.GetProperty("state").GetString()!;

    [Fact]
    public void StatusReportsTheMachine()
    {
        var reply = Handle("""{"id": 11, "command": "status"}""");

        Assert.True(reply.Response.Ok, reply.Response.Error);
        Assert.Equal(11, reply.Response.Id);
        Assert.Null(reply.AfterSend);
        var status = reply.Response.Result!.Value.Deserialize(ControlJsonContext.Default.StatusResult)!;
        Assert.Equal(new StatusResult("running", 4242, 1234, 2, 128UL << 20), status);
    }

    [Fact]
    public void PauseAndResumeAnswerWithTheNewStateAndRepeatHarmlessly()
    {
        Assert.Equal("paused", State(Handle("""{"id": 1, "command": "pause"}""")));
        Assert.Equal("paused", State(Handle("""{"id": 2, "command": "pause"}""")));
        Assert.Equal(MachineState.Paused, _target.State);
        Assert.Equal("running", State(Handle("""{"id": 3, "command": "resume"}""")));
        Assert.Equal("running", State(Handle("""{"id": 4, "command": "resume"}""")));
    }

    [Fact]
    public void StopHappensOnlyAfterTheReplyIsSent()
    {
        var reply = Handle("""{"id": 5, "command": "stop"}""");

        Assert.True(reply.Response.Ok);
        Assert.Equal("stopping", State(reply));
        Assert.Equal(0, _target.Stops);
        reply.AfterSend!();
        Assert.Equal(1, _target.Stops);
    }

    [Fact]
    public void MetricsCarryTheTargetsCounters()
    {
        var reply = Handle("""{"id": 6, "command": "metrics"}""");

        Assert.True(reply.Response.Ok, reply.Response.Error);
        var json = reply.Response.Result!.Value.GetRawText();
        Assert.Contains("\"total_exits\":7", json, StringComparison.Ordinal);
        Assert.Contains("\"emulation_assist\":{\"int3\":1}", json, StringComparison.Ordinal);
        Assert.Contains("\"rss_bytes\":", json, StringComparison.Ordinal);
        Assert.Contains("\"devices\":[{\"slot\":1,\"type\":\"block\",\"counters\":{\"completed\":3}}]", json, StringComparison.Ordinal);
    }

    [Fact]
    public void SnapshotTakesItsPathAndAnswersWithTheFileAndTheState()
    {
        var reply = Handle("""{"id": 5, "command": "snapshot", "path": "vm.snap"}""");

        Assert.True(reply.Response.Ok, reply.Response.Error);
        var result = reply.Response.Result!.Value.Deserialize(ControlJsonContext.Default.SnapshotResult)!;
        Assert.Equal(new SnapshotResult("running", "/abs/vm.snap", 4096), result);
        Assert.Equal(["vm.snap"], _target.Snapshots);
    }

    [Theory]
    [InlineData("""{"id": 6, "command": "snapshot"}""")]
    [InlineData("""{"id": 6, "command": "snapshot", "path": ""}""")]
    [InlineData("""{"id": 6, "command": "snapshot", "path": "a\u0000b"}""")]
    public void SnapshotWithoutAUsablePathIsAnErrorAndTouchesNothing(string line)
    {
        var reply = Handle(line);

        Assert.False(reply.Response.Ok);
        Assert.Equal(6, reply.Response.Id);
        Assert.Equal("'snapshot' needs \"path\": the file to write (1 to 4096 characters)", reply.Response.Error);
        Assert.Empty(_target.Snapshots);
    }

    [Fact]
    public void ScreenshotTakesItsHeadAndPathAndDisplaySaysWhereTheServersAre()
    {
        var reply = Handle("""{"id": 8, "command": "screenshot", "path": "screen.png", "head": 2}""");
        Assert.True(reply.Response.Ok, reply.Response.Error);
        Assert.Equal(new ScreenshotResult("screen.png", 1024, 768), reply.Response.Result!.Value.Deserialize(ControlJsonContext.Default.ScreenshotResult));
        Assert.True(Handle("""{"id": 9, "command": "screenshot", "path": "head0.png"}""").Response.Ok);
        Assert.Equal([(2, "screen.png"), (0, "head0.png")], _target.Screenshots);

        var display = Handle("""{"id": 10, "command": "display"}""");
        Assert.Equal(
            """{"heads":[{"head":0,"width":1024,"height":768,"socket":"/run/vm.vnc"}],"password":false}""",
            display.Response.Result!.Value.GetRawText());
        var ticket = Handle("""{"id": 11, "command": "display-ticket"}""");
        Assert.Equal("""{"ticket":"abcd1234","expires_in_ms":60000}""", ticket.Response.Result!.Value.GetRawText());
    }

    [Theory]
    [InlineData("""{"id": 12, "command": "screenshot", "path": "x.png", "head": -1}""", "\"head\" must be a whole number, 0 or more")]
    [InlineData("""{"id": 12, "command": "screenshot", "path": "x.png", "head": "0"}""", "\"head\" must be a whole number, 0 or more")]
    [InlineData("""{"id": 12, "command": "screenshot", "head": 0}""", "'screenshot' needs \"path\": the PNG file to write (1 to 4096 characters)")]
    public void ABadScreenshotRequestIsAnErrorAndTakesNone(string line, string error)
    {
        var reply = Handle(line);
        Assert.False(reply.Response.Ok);
        Assert.Equal(error, reply.Response.Error);
        Assert.Empty(_target.Screenshots);
    }

    [Fact]
    public void APathThatIsNotAStringIsAnError()
    {
        var reply = Handle("""{"id": 7, "command": "snapshot", "path": 42}""");

        Assert.False(reply.Response.Ok);
        Assert.Equal("\"path\" must be a string", reply.Response.Error);
    }

    [Fact]
    public void AFailedSaveIsOneErrorLine()
    {
        _target.Failure = new Sharpvisor.Vmm.State.StateException("this VM has virtio devices, whose state snapshots do not hold yet");
        var reply = Handle("""{"id": 8, "command": "snapshot", "path": "vm.snap"}""");

        Assert.False(reply.Response.Ok);
        Assert.Equal("this VM has virtio devices, whose state snapshots do not hold yet", reply.Response.Error);
    }

    [Fact]
    public void MigrateTakesItsArgumentsAndStopsTheVmOnlyAfterTheReply()
    {
        var reply = Handle("""{"id": 9, "command": "migrate", "path": "out.sock", "downtime_ms": 50, "max_bandwidth": 1000000}""");

        Assert.True(reply.Response.Ok, reply.Response.Error);
        Assert.Equal(new ControlArguments { Path = "out.sock", DowntimeMs = 50, MaxBandwidth = 1_000_000 }, Assert.Single(_target.Migrations));
        var result = reply.Response.Result!.Value.Deserialize(ControlJsonContext.Default.MigrateResult)!;
        Assert.Equal(new MigrateResult("stopping", 3, 1000, 4_000_000, 900, 40), result);
        Assert.Equal(0, _target.Stops);
        reply.AfterSend!();
        Assert.Equal(1, _target.Stops);
    }

    [Fact]
    public void MigrateCancelAnswersRunningOnlyWhenAMigrationWasThereToCancel()
    {
        var none = Handle("""{"id": 11, "command": "migrate-cancel"}""");
        Assert.False(none.Response.Ok);
        Assert.Equal("no migration to cancel", none.Response.Error);

        _target.Migrating = true;
        Assert.Equal("running", State(Handle("""{"id": 12, "command": "migrate-cancel"}""")));
    }

    [Fact]
    public void AutoConvergeIsABoolean()
    {
        Assert.True(Handle("""{"id": 13, "command": "migrate", "path": "s", "auto_converge": true}""").Response.Ok);
        Assert.True(Assert.Single(_target.Migrations).AutoConverge);
        var reply = Handle("""{"id": 14, "command": "migrate", "path": "s", "auto_converge": "yes"}""");
        Assert.Equal("\"auto_converge\" must be true or false", reply.Response.Error);
    }

    [Theory]
    [InlineData("""{"id": 10, "command": "migrate"}""", "'migrate' needs \"path\": the unix socket to send the VM through (1 to 4096 characters)")]
    [InlineData("""{"id": 10, "command": "migrate", "path": "s", "downtime_ms": 0}""", "\"downtime_ms\" must be 1 to 600000")]
    [InlineData("""{"id": 10, "command": "migrate", "path": "s", "downtime_ms": 600001}""", "\"downtime_ms\" must be 1 to 600000")]
    [InlineData("""{"id": 10, "command": "migrate", "path": "s", "downtime_ms": -5}""", "\"downtime_ms\" must be a whole number, 0 or more")]
    [InlineData("""{"id": 10, "command": "migrate", "path": "s", "max_bandwidth": "fast"}""", "\"max_bandwidth\" must be a whole number, 0 or more")]
    [InlineData("""{"id": 10, "command": "migrate", "path": "s", "max_bandwidth": 1.5}""", "\"max_bandwidth\" must be a whole number, 0 or more")]
    [InlineData("""{"id": 10, "command": "migrate", "path": "s", "max_bandwidth": 999999}""", "\"max_bandwidth\" must be 0 (no limit) or at least 1000000 bytes/s")]
    public void MigrateWithBadArgumentsIsAnErrorAndStartsNothing(string line, string error)
    {
        var reply = Handle(line);

        Assert.False(reply.Response.Ok);
        Assert.Equal(10, reply.Response.Id);
        Assert.Equal(error, reply.Response.Error);
        Assert.Empty(_target.Migrations);
    }

    [Fact]
    public void AnUnknownCommandIsAnErrorWithTheIdEchoed()
    {
        var reply = Handle("""{"id": 77, "command": "reboot"}""");

        Assert.False(reply.Response.Ok);
        Assert.Equal(77, reply.Response.Id);
        Assert.Equal("unknown command 'reboot' (known: status, pause, resume, stop, metrics, snapshot, migrate, migrate-cancel, display, display-ticket, screenshot)", reply.Response.Error);
        Assert.Null(reply.Response.Result);
    }

    [Fact]
    public void AHugeUnknownCommandIsNotEchoedInFull()
    {
        var reply = Handle($$"""{"id": 1, "command": "{{new string('x', 50_000)}}"}""");
        Assert.False(reply.Response.Ok);
        Assert.True(reply.Response.Error!.Length < 250); // the quoted name is cut; the list of known commands follows
    }

    [Fact]
    public void BadJsonIsAnErrorWithoutAnId()
    {
        var reply = Handle("status please");
        Assert.False(reply.Response.Ok);
        Assert.Null(reply.Response.Id);
        Assert.StartsWith("not a JSON request", reply.Response.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void ACommandThatCannotBeDoneNowIsAnError()
    {
        _target.Failure = new ControlException("no machine is running (the guest is restarting)");
        var reply = Handle("""{"id": 2, "command": "status"}""");
        Assert.False(reply.Response.Ok);
        Assert.Equal(2, reply.Response.Id);
        Assert.Equal("no machine is running (the guest is restarting)", reply.Response.Error);
    }

    [Fact]
    public void AnyOtherFailureIsAnInternalErrorResponseNotAnException()
    {
        _target.Failure = new InvalidOperationException("boom\nsecond line");
        var reply = Handle("""{"id": 3, "command": "pause"}""");
        Assert.False(reply.Response.Ok);
        Assert.Equal(3, reply.Response.Id);
        Assert.Equal("internal error in 'pause': InvalidOperationException: boom second line", reply.Response.Error);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    [InlineData(123456789)]
    public void EveryResponseCarriesItsRequestsId(int id)
    {
        foreach (var command in ControlCommands.All.Where(c => c != ControlCommands.Stop).Append("nope"))
        {
            Assert.Equal(id, Handle($$"""{"command": "{{command}}", "id": {{id}}}""").Response.Id);
        }
    }
}
