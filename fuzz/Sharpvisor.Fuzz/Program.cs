using System.Diagnostics;
using SharpFuzz;
using Sharpvisor.Fuzz.Targets;

namespace Sharpvisor.Fuzz;

/// <summary>
/// <code>
/// Sharpvisor.Fuzz TARGET                  fuzz: under afl-fuzz (input on stdin) or libfuzzer-dotnet (shared memory);
///                                         run outside either, it runs stdin once
/// Sharpvisor.Fuzz TARGET --run FILE...    replays inputs, prints each one's outcome with the stack of a finding;
///                                         exit 1 when one is a finding, 3 when one hangs
/// Sharpvisor.Fuzz TARGET --seeds DIR      writes the target's seed corpus into DIR
/// Sharpvisor.Fuzz --list                  the targets
/// </code>
/// </summary>
internal static class Program
{
    private const int UsageExit = 2;

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.Error.WriteLine("usage: Sharpvisor.Fuzz TARGET [--run FILE... | --seeds DIR [--timeout-seconds N]] | --list");
            return args.Length == 0 ? UsageExit : 0;
        }

        // Instrumented code writes to SharpFuzz's coverage map, which only an engine sets up (inside Fuzzer.Run):
        // everything that runs outside one (these modes, building a target and warming it up) gets a scratch map.
        UseScratchCoverageMap();
        if (args[0] == "--list")
        {
            foreach (var name in FuzzTargets.Names)
            {
                Console.WriteLine($"{name,-8} {FuzzTargets.Create(name)!.Description}");
            }

            return 0;
        }

        var factory = FuzzTargets.Factory(args[0]);
        if (factory is null)
        {
            Console.Error.WriteLine($"Sharpvisor.Fuzz: unknown target '{args[0]}' (known: {string.Join(", ", FuzzTargets.Names)})");
            return UsageExit;
        }

        if (args.Length >= 2 && args[1] == "--seeds")
        {
            return args.Length == 3 ? WriteSeeds(factory(), args[2]) : UsageExit;
        }

        if (args.Length >= 2 && args[1] == "--run")
        {
            return Replay(factory(), args[2..]);
        }

        // bench/fuzz.sh reads how many executions a run made from here (libFuzzer prints no total when it times out).
        var countFile = Environment.GetEnvironmentVariable("SHARPVISOR_FUZZ_COUNT_FILE");
        long executions = 0;
        void Count()
        {
            if (countFile is not null && (++executions & 4095) == 0)
            {
                File.WriteAllText(countFile, executions.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        // The target is built and runs its seeds before the engine starts (coverage then goes to the scratch map): the
        // JIT's first compilations, seconds on a loaded machine, count against no execution's timeout, and one-time
        // initialisation is not taken for new coverage by the first input.
        var target = factory();
        WarmUp(target);
        if (Environment.GetEnvironmentVariable("__LIBFUZZER_SHM_ID") is not null)
        {
            Fuzzer.LibFuzzer.Run(data =>
            {
                Count();
                RunOne(target, data);
            });
        }
        else
        {
            var buffer = new byte[1 << 20];
            Action<Action<Stream>> run = Environment.GetEnvironmentVariable("SHARPVISOR_FUZZ_IN_PROCESS") == "1" ? Fuzzer.Run : Fuzzer.OutOfProcess.Run;
            run(stream =>
            {
                var length = 0;
                int read;
                while (length < buffer.Length && (read = stream.Read(buffer, length, buffer.Length - length)) > 0)
                {
                    length += read;
                }

                Count();
                RunOne(target, buffer.AsSpan(0, length));
            });
        }

        return 0;
    }

    /// <summary>One execution: expected exceptions are the code's answer to hostile input, anything else escapes.</summary>
    private static void RunOne(IFuzzTarget target, ReadOnlySpan<byte> data)
    {
        try
        {
            target.Execute(data);
        }
        catch (Exception e) when (target.IsExpected(e))
        {
        }
    }

    /// <summary>Runs each seed once, whatever it does: the engine finds and reports a failing one again.</summary>
    private static void WarmUp(IFuzzTarget target)
    {
        foreach (var (_, input) in target.Seeds())
        {
            try
            {
                target.Execute(input);
            }
#pragma warning disable CA1031 // a warm-up outcome does not matter
            catch (Exception)
            {
            }
#pragma warning restore CA1031
        }
    }

    /// <summary>
    /// Points SharpFuzz.Common.Trace.SharedMem at a zeroed 64 KiB map. Through reflection: a compile-time reference to
    /// SharpFuzz.Common would make the sharpfuzz tool take this assembly for instrumented already, and the self-test
    /// target in it could not be instrumented.
    /// </summary>
    private static unsafe void UseScratchCoverageMap()
    {
        var map = System.Runtime.InteropServices.NativeMemory.AllocZeroed(1 << 16);
        var field = Type.GetType("SharpFuzz.Common.Trace, SharpFuzz.Common", throwOnError: true)!.GetField("SharedMem")!;
        field.SetValue(null, System.Reflection.Pointer.Box(map, typeof(byte*)));
    }

    private static int WriteSeeds(IFuzzTarget target, string directory)
    {
        Directory.CreateDirectory(directory);
        foreach (var (name, input) in target.Seeds())
        {
            File.WriteAllBytes(Path.Combine(directory, name), input);
            Console.WriteLine($"{Path.Combine(directory, name)} ({input.Length} bytes)");
        }

        return 0;
    }

    /// <summary>Runs each file on a worker thread; one still running after the timeout is reported as a hang.</summary>
    private static int Replay(IFuzzTarget target, string[] files)
    {
        var timeout = TimeSpan.FromSeconds(10);
        if (files.Length >= 2 && files[0] == "--timeout-seconds" && int.TryParse(files[1], out var seconds) && seconds > 0)
        {
            timeout = TimeSpan.FromSeconds(seconds);
            files = files[2..];
        }

        var status = 0;
        foreach (var file in files.SelectMany(f => Directory.Exists(f) ? Directory.GetFiles(f).Order(StringComparer.Ordinal) : (IEnumerable<string>)[f]))
        {
            var input = File.ReadAllBytes(file);
            Exception? outcome = null;
            var watch = Stopwatch.StartNew();
            var worker = new Thread(() =>
            {
                try
                {
                    target.Execute(input);
                }
#pragma warning disable CA1031 // the outcome of a replayed input is whatever it threw
                catch (Exception e)
                {
                    outcome = e;
                }
#pragma warning restore CA1031
            }, 64 << 20) { IsBackground = true };
            worker.Start();
            if (!worker.Join(timeout))
            {
                Console.WriteLine($"{file}: HANG: still running after {timeout.TotalSeconds:0} s");
                Console.Out.Flush();
                return 3; // the thread cannot be stopped; the process exits around it
            }

            var took = $"{watch.Elapsed.TotalMilliseconds:0.0} ms";
            if (outcome is null)
            {
                Console.WriteLine($"{file}: ok ({took})");
            }
            else if (target.IsExpected(outcome))
            {
                Console.WriteLine($"{file}: expected {outcome.GetType().Name}: {outcome.Message} ({took})");
            }
            else
            {
                Console.WriteLine($"{file}: FINDING ({took}): {outcome}");
                status = 1;
            }
        }

        return status;
    }
}
