using Sharpvisor.Control;
using Sharpvisor.Vmm.Control;
using Sharpvisor.Vmm.Machine;

namespace Sharpvisor.Fuzz.Targets;

/// <summary>
/// The control socket's request path: bytes cut into lines as ControlServer cuts them (a trailing CR dropped,
/// blank lines skipped, a line over ControlCodec.MaxLineBytes refused), each line through
/// ControlDispatcher.Handle with a stand-in machine, the reply through ControlCodec.EncodeResponse, and the encoded
/// line back through ControlCodec.DecodeResponse as a client reads it. The input is the byte stream a client sends.
/// Nothing is expected to throw: the dispatcher promises an error response for any line, and an encoder exception
/// would end the connection without a reply. A finding: any exception, a reply that is not one line, a decoded reply
/// whose id, ok or error differs from the one sent.
/// </summary>
internal sealed class ControlTarget : IFuzzTarget
{

    public string Name => "control";

    public string Description => "control socket protocol: line framing, request decoding, dispatch, response encoding";

    public bool IsExpected(Exception exception) => false;

    public void Execute(ReadOnlySpan<byte> input)
    {
        // A new machine per input: which of its calls fail depends on how many came before, within this input only.
        var dispatcher = new ControlDispatcher(new StandInMachine());
        while (!input.IsEmpty)
        {
            var newline = input.IndexOf((byte)'\n');
            if (newline < 0)
            {
                return; // the server drops an unterminated last line when the client closes
            }

            var line = input[..newline];
            input = input[(newline + 1)..];
            if (line.Length > ControlCodec.MaxLineBytes)
            {
                return;
            }

            if (line.Length > 0 && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            if (line.Trim(" \t"u8).IsEmpty)
            {
                continue;
            }

            // The parser alone, then the whole path: they must agree on the id.
            _ = ControlCodec.TryParseRequest(line, out var parsedId, out _, out _);
            var reply = dispatcher.Handle(line);
            if (reply.Response.Id != parsedId)
            {
                throw new Finding($"the reply's id {reply.Response.Id} is not the parsed id {parsedId}");
            }

            var encoded = ControlCodec.EncodeResponse(reply.Response);
            if (encoded.Length == 0 || encoded[^1] != (byte)'\n' || encoded.AsSpan(0, encoded.Length - 1).IndexOf((byte)'\n') >= 0)
            {
                throw new Finding("the encoded reply is not exactly one line");
            }

            var decoded = ControlCodec.DecodeResponse(encoded.AsSpan(0, encoded.Length - 1));
            if (decoded.Id != reply.Response.Id || decoded.Ok != reply.Response.Ok || decoded.Error != Scrub(reply.Response.Error))
            {
                throw new Finding($"the reply decodes as id {decoded.Id} ok {decoded.Ok} error '{decoded.Error}', was id {reply.Response.Id} ok {reply.Response.Ok} error '{reply.Response.Error}'");
            }
        }
    }

    public IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        yield return ("status", "{\"id\": 1, \"command\": \"status\"}\n"u8.ToArray());
        yield return ("every-command", """
            {"id":1,"command":"status"}
            {"id":2,"command":"pause"}
            {"id":3,"command":"resume"}
            {"id":4,"command":"metrics","extra":[1,{"a":null}]}
            {"id":5,"command":"stop"}

            """u8.ToArray());
        yield return ("errors", "not json\r\n{\"id\":\"7\",\"command\":\"status\"}\n{\"id\":2147483648}\n{\"command\":3,\"id\":9}\n[1]\n{\"id\":1,\"command\":\"st\\u00e4tus\\ud83d\\ude00\"} {}\n   \t\n{\"id\":-5,\"command\":\"\\u0000\\n\"}\n"u8.ToArray());
        yield return ("unknown-long-command", System.Text.Encoding.UTF8.GetBytes($"{{\"id\":42,\"command\":\"{new string('x', 63)}\\ud83d\\ude00{new string('y', 40)}\"}}\n"));
        yield return ("deep", System.Text.Encoding.UTF8.GetBytes($"{{\"id\":3,\"x\":{new string('[', 20)}{new string(']', 20)},\"command\":\"status\"}}\n"));
    }

    /// <summary>
    /// The text as UTF-8 can carry it: a lone surrogate becomes U+FFFD, as the JSON encoder writes it. (ControlCodec.Quote
    /// cuts at 64 UTF-16 code units, which can split a surrogate pair; the client then sees U+FFFD, which is harmless.)
    /// </summary>
    private static string? Scrub(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(chars[i]))
            {
                chars[i] = '\uFFFD';
            }
        }

        return new string(chars);
    }

    /// <summary>A machine that answers every command; pause and resume throw now and then, as a real one may.</summary>
    private sealed class StandInMachine : IControlTarget
    {
        private int _calls;

        public StatusResult Status() => new(ControlStates.Running, 1234, 5678, 2, 128UL << 20);

        public MachineState Pause() => ++_calls % 3 == 0 ? throw new ControlException("the machine is stopping\nsecond line") : MachineState.Paused;

        public MachineState Resume() => ++_calls % 5 == 0 ? throw new InvalidOperationException("boom: \u0001") : MachineState.Running;

        public void Stop()
        {
        }

        public MetricsResult Metrics() => new(
            [new VcpuMetrics(0, 10, new Dictionary<string, long> { ["io"] = 7, ["mmio"] = 3 })],
            10,
            new Dictionary<string, long>(),
            1 << 20,
            [new DeviceMetrics(1, "block", new Dictionary<string, long> { ["completed"] = 4 })]);

        // Whatever path or arguments the fuzzer makes up reach these only after the dispatcher's checks.
        public SnapshotResult Snapshot(string path) =>
            ++_calls % 7 == 0 ? throw new Sharpvisor.Vmm.State.StateException("cannot write: \u0002") : new(ControlStates.Running, "/abs/" + path, 4096);

        public MigrateResult Migrate(ControlArguments arguments) =>
            ++_calls % 2 == 0 ? throw new Sharpvisor.Vmm.Migration.MigrationException("nobody connected\nsecond line") : new(ControlStates.Stopping, 2, 100, 409600, 50, 5);

        public bool CancelMigration() => ++_calls % 2 == 0;

        public DisplayResult Display() =>
            ++_calls % 3 == 0 ? throw new ControlException("this VM has no display\nsecond line") : new([new DisplayHeadInfo(0, 1024, 768, "/run/vm.vnc", null)], false);

        public DisplayTicketResult IssueDisplayTicket() => new("abcd1234", 60_000);

        public ScreenshotResult Screenshot(int head, string path) =>
            ++_calls % 4 == 0 ? throw new IOException("cannot write: \u0003") : new("/abs/" + path, 1024, 768);
    }
}
