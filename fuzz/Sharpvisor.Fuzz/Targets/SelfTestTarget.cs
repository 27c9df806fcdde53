namespace Sharpvisor.Fuzz.Targets;

/// <summary>
/// Proves the pipeline reports what it should (<c>bench/fuzz.sh --self-test</c>). <c>selftest-crash</c> throws an
/// unexpected exception on an input starting "CR", <c>selftest-hang</c> spins for ever on one starting "HA"; each
/// byte is its own branch, so the fuzzer finds the trap from the seed "xx" within seconds. Anything else is fine.
/// Not real targets, and not in the default list.
/// </summary>
internal sealed class SelfTestTarget(bool hang) : IFuzzTarget
{
    public string Name => hang ? "selftest-hang" : "selftest-crash";

    public string Description => hang ? "hangs on input \"HA...\" (checks hang detection)" : "crashes on input \"CR...\" (checks crash detection)";

    public bool IsExpected(Exception exception) => exception is ArgumentException;

    public void Execute(ReadOnlySpan<byte> input)
    {
        if (input.Length < 2)
        {
            throw new ArgumentException("short input: expected, not a finding");
        }

        if (!hang && input[0] == 'C' && input[1] == 'R')
        {
            throw new InvalidOperationException("self-test crash");
        }

        if (hang && input[0] == 'H' && input[1] == 'A')
        {
            while (Environment.TickCount64 != 0)
            {
                Thread.SpinWait(1000);
            }
        }
    }

    public IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        yield return ("xx", "xx"u8.ToArray());
    }
}
