using System.Text;

namespace Sharpvisor.Integration.Tests.Remote;

/// <summary>`serve --listen` beyond loopback is HTTPS with a self-signed certificate that the CLI pins from serve.json.</summary>
public sealed class TlsCliTests
{
    [Fact]
    public async Task TheCliTalksToAnHttpsDaemonByItsPinnedFingerprintAndRefusesAnother()
    {
        var data = Directory.CreateTempSubdirectory("sharpvisor-tls-").FullName;
        var output = new StringBuilder();
        using var serve = ProcessRunner.Start(SharpvisorProcess.ExecutablePath, ["serve", "--listen", "0.0.0.0:0", "--data-dir", data]);
        serve.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        serve.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        serve.BeginOutputReadLine();
        serve.BeginErrorReadLine();
        try
        {
            // serve.json may be on disk before the lines printed with it came through the pipe: wait for both.
            string Printed()
            {
                lock (output)
                {
                    return output.ToString();
                }
            }

            var deadline = DateTime.UtcNow + TestTime.Ceiling(TimeSpan.FromSeconds(60));
            while (!File.Exists(Path.Combine(data, "serve.json")) || !Printed().Contains("fingerprint", StringComparison.Ordinal))
            {
                Assert.False(serve.HasExited, $"serve exited: {Printed()}");
                Assert.True(DateTime.UtcNow < deadline, $"serve wrote no serve.json or printed no fingerprint: {Printed()}");
                await Task.Delay(50);
            }

            Assert.Contains("TLS certificate SHA-256 fingerprint", Printed(), StringComparison.Ordinal);
            Assert.Contains("listening on https://", Printed(), StringComparison.Ordinal);

            var listed = await RemoteCli.RunAsync(["vm", "list", "--data-dir", data]);
            Assert.True(listed.ExitCode == 0, listed.ToString());

            var wrong = await RemoteCli.RunAsync(["vm", "list", "--data-dir", data], new Dictionary<string, string> { ["SHARPVISOR_FINGERPRINT"] = string.Join(':', Enumerable.Repeat("AB", 32)) });
            Assert.True(wrong.ExitCode == 1, wrong.ToString());
            Assert.DoesNotContain("   at ", wrong.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            if (!serve.HasExited)
            {
                ProcessRunner.Terminate(serve);
                await serve.WaitForExitAsync().WaitAsync(TestTime.Ceiling(TimeSpan.FromSeconds(30)));
            }

            Directory.Delete(data, recursive: true);
        }
    }
}
