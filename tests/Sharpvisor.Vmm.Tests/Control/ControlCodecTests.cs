using System.Text;
using System.Text.Json;
using Sharpvisor.Control;
using Sharpvisor.Vmm.Control;

namespace Sharpvisor.Vmm.Tests.Control;

public sealed class ControlCodecTests
{
    private static (bool Ok, int? Id, string? Command, string Error) Parse(string line)
    {
        var ok = ControlCodec.TryParseRequest(Encoding.UTF8.GetBytes(line), out var id, out var command, out var error);
        return (ok, id, command, error);
    }

    [Theory]
    [InlineData("""{"id": 1, "command": "status"}""", 1, "status")]
    [InlineData("""{"command":"pause","id":-7}""", -7, "pause")]
    [InlineData("""  {"id": 2147483647, "command": "metrics", "extra": {"nested": [1, 2, {"x": null}]}}  """, int.MaxValue, "metrics")]
    [InlineData("""{"id": 3, "command": "no such thing"}""", 3, "no such thing")]
    public void ParsesRequestsAndIgnoresUnknownMembers(string line, int id, string command)
    {
        var parsed = Parse(line);
        Assert.True(parsed.Ok, parsed.Error);
        Assert.Equal(id, parsed.Id);
        Assert.Equal(command, parsed.Command);
    }

    [Theory]
    [InlineData("hello", "not a JSON request")]
    [InlineData("{\"id\": 1, \"command\": ", "not a JSON request")]
    [InlineData("[1, 2]", "one JSON object per line")]
    [InlineData("42", "one JSON object per line")]
    [InlineData("\"status\"", "one JSON object per line")]
    [InlineData("""{"id": 1, "command": "status"} {"id": 2}""", "not a JSON request")]
    [InlineData("""{"id": 1, "command": "status"} x""", "not a JSON request")]
    [InlineData("""{"command": "status"}""", "\"id\" (an integer) is missing")]
    [InlineData("""{"id": "1", "command": "status"}""", "\"id\" must be a 32-bit integer")]
    [InlineData("""{"id": 1.5, "command": "status"}""", "\"id\" must be a 32-bit integer")]
    [InlineData("""{"id": 4294967296, "command": "status"}""", "\"id\" must be a 32-bit integer")]
    [InlineData("""{"id": null, "command": "status"}""", "\"id\" must be a 32-bit integer")]
    public void MalformedRequestsFailWithoutAnId(string line, string error)
    {
        var parsed = Parse(line);
        Assert.False(parsed.Ok);
        Assert.Null(parsed.Id);
        Assert.Contains(error, parsed.Error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', parsed.Error);
    }

    [Theory]
    [InlineData("""{"id": 9}""", "\"command\" is missing")]
    [InlineData("""{"id": 9, "command": 5}""", "\"command\" must be a string")]
    [InlineData("""{"id": 9, "command": ["status"]}""", "\"command\" must be a string")]
    public void ARequestWithAnIdButNoUsableCommandKeepsItsId(string line, string error)
    {
        var parsed = Parse(line);
        Assert.False(parsed.Ok);
        Assert.Equal(9, parsed.Id);
        Assert.Equal(error, parsed.Error);
    }

    [Fact]
    public void DeepNestingIsAnErrorNotAStackOverflow()
    {
        var line = "{\"id\": 1, \"command\": \"status\", \"x\": " + new string('[', 10_000) + new string(']', 10_000) + "}";
        var parsed = Parse(line);
        Assert.False(parsed.Ok);
        Assert.StartsWith("not a JSON request", parsed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidUtf8IsAnError()
    {
        byte[] line = [.. "{\"id\": 1, \"command\": \""u8, 0xFF, 0xFE, .. "\"}"u8];
        Assert.False(ControlCodec.TryParseRequest(line, out var id, out _, out var error));
        Assert.Null(id);
        Assert.StartsWith("not a JSON request", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ASuccessIsOneSnakeCaseLineWithoutAnErrorMember()
    {
        var result = JsonSerializer.SerializeToElement(new StatusResult("running", 12, 345, 2, 1024), ControlJsonContext.Default.StatusResult);
        var line = Encoding.UTF8.GetString(ControlCodec.EncodeResponse(ControlResponse.Success(5, result)));

        Assert.EndsWith("\n", line, StringComparison.Ordinal);
        Assert.Equal(1, line.Count(c => c == '\n'));
        Assert.Equal(
            """{"id":5,"ok":true,"result":{"state":"running","pid":12,"uptime_ms":345,"vcpus":2,"memory_bytes":1024}}""" + "\n",
            line);
    }

    [Fact]
    public void AFailureKeepsAnUnknownIdAsNull()
    {
        var line = Encoding.UTF8.GetString(ControlCodec.EncodeResponse(ControlResponse.Failure(null, "bad\nthing")));
        Assert.Equal("""{"id":null,"ok":false,"error":"bad\nthing"}""" + "\n", line);
    }

    [Fact]
    public void ResponsesRoundTripForClients()
    {
        var metrics = new MetricsResult(
            [new VcpuMetrics(0, 3, new Dictionary<string, long> { ["io"] = 3 })],
            3,
            new Dictionary<string, long>(),
            4096,
            [new DeviceMetrics(1, "net", new Dictionary<string, long> { ["rx_frames"] = 1 })]);
        var bytes = ControlCodec.EncodeResponse(ControlResponse.Success(8, JsonSerializer.SerializeToElement(metrics, ControlJsonContext.Default.MetricsResult)));

        var response = ControlCodec.DecodeResponse(bytes.AsSpan(0, bytes.Length - 1));
        Assert.True(response.Ok);
        Assert.Equal(8, response.Id);
        var back = ControlCodec.ResultAs(response, ControlJsonContext.Default.MetricsResult);
        Assert.Equal(3, back.Vcpus[0].Exits["io"]);
        Assert.Equal("net", back.Devices[0].Type);
        Assert.Equal(4096, back.RssBytes);
        Assert.Contains("\"emulation_assist\":{}", Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
        Assert.Contains("\"rss_bytes\":4096", Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
    }

    [Fact]
    public void RequestsEncodeAsOneLine() =>
        Assert.Equal("""{"id":3,"command":"pause"}""" + "\n", Encoding.UTF8.GetString(ControlCodec.EncodeRequest(new ControlRequest(3, "pause"))));

    [Fact]
    public void QuotedTextIsShortAndOnOneLine()
    {
        var quoted = ControlCodec.Quote(new string('a', 100) + "\n\u0001");
        Assert.Equal(new string('a', 64) + "...", quoted);
        Assert.Equal("a b c", ControlCodec.Quote("a\nb\tc"));
    }

    [Theory]
    [InlineData("Name:\tx\nVmRSS:\t   10240 kB\nVmSwap:\t0 kB\n", 10240L * 1024)]
    [InlineData("VmRSS: 1 kB", 1024L)]
    [InlineData("Name:\tx\n", 0L)]
    [InlineData("VmRSS:\tlots kB\n", 0L)]
    public void ResidentBytesComeFromTheVmRssLine(string status, long expected) =>
        Assert.Equal(expected, ProcessMemory.ParseResidentBytes(status));

    [Fact]
    public void ThisProcessHasAResidentSize() => Assert.True(ProcessMemory.ResidentBytes() > 1 << 20);
}
