using Sharpvisor.Cli;
using Sharpvisor.Cli.Commands;
using Sharpvisor.Cli.Remote;

namespace Sharpvisor.Integration.Tests;

/// <summary>
/// Help everywhere (the real binary): <c>help CMD</c>, <c>CMD --help</c> and <c>CMD -h</c> print the same text and
/// exit 0 on any machine; typos get the nearest command or option; <c>--version</c>; bash completion that bash runs.
/// </summary>
public sealed class HelpTests
{
    public static TheoryData<string> Topics() => [.. Help.TopicNames];

    [Theory]
    [MemberData(nameof(Topics))]
    public async Task HelpCommandDashDashHelpAndDashHAgree(string topic)
    {
        var words = topic.Split(' ');
        var help = await SharpvisorProcess.RunAsync(["help", .. words]);
        Assert.True(help.ExitCode == 0, help.ToString());
        Assert.StartsWith($"usage: sharpvisor {topic}", help.Stdout, StringComparison.Ordinal);
        Assert.Equal("", help.Stderr);

        foreach (var flag in new[] { "--help", "-h" })
        {
            // With a VM name before the flag too, as a user types it: `vm start web1 --help`.
            string[] args = topic.StartsWith("vm ", StringComparison.Ordinal) && topic != "vm list" ? [.. words, "web1", flag] : [.. words, flag];
            var asked = await SharpvisorProcess.RunAsync(args);
            Assert.True(asked.ExitCode == 0, $"{string.Join(' ', args)}: {asked}");
            Assert.Equal(help.Stdout, asked.Stdout);
        }
    }

    [Fact]
    public async Task TheOverviewNamesEveryCommand()
    {
        foreach (var args in new[] { new[] { "help" }, ["--help"], ["-h"] })
        {
            var result = await SharpvisorProcess.RunAsync(args);
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.All(Help.Commands, command => Assert.Contains($"\n  {command} ", result.Stdout, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void EveryOptionACommandTakesIsInItsHelp()
    {
        Assert.Equal(RunCommand.ValueOptions.Concat(RunCommand.FlagOptions).Append("--help").Order(), Help.OptionsOf("run"));
        Assert.Equal(VmSpecOptions.ValueOptions.Concat(RemoteCommand.ConnectionOptions).Append(RemoteCommand.JsonFlag).Append("--help").Order(), Help.OptionsOf("vm create"));
    }

    [Theory]
    [InlineData(new[] { "run", "--memroy", "1G" }, "unknown option '--memroy' (did you mean --memory?)")]
    [InlineData(new[] { "vm", "create", "x", "--gust", "hello" }, "unknown option '--gust' (did you mean --guest?)")]
    [InlineData(new[] { "vm", "creat", "x" }, "unknown vm subcommand 'creat' (did you mean 'create'?)")]
    [InlineData(new[] { "srve" }, "unknown command 'srve' (did you mean 'serve'?)")]
    [InlineData(new[] { "run", "--zzzzzzzz" }, "unknown option '--zzzzzzzz'")]
    [InlineData(new[] { "help", "vm", "nope" }, "no help for 'vm nope' (try 'sharpvisor help')")]
    public async Task TyposGetTheNearestNameAndExit2(string[] args, string message)
    {
        var result = await SharpvisorProcess.RunAsync(args);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal($"sharpvisor: error: {message}\n", result.Stderr);
    }

    [Fact]
    public async Task VersionPrintsOneLine()
    {
        var result = await SharpvisorProcess.RunAsync(["--version"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"^sharpvisor \d+\.\d+\.\d+\n$", result.Stdout);
        Assert.Equal(result.Stdout, (await SharpvisorProcess.RunAsync(["version"])).Stdout);
    }

    [Theory]
    [InlineData("sharpvisor vm create x --me", 4, "--memory")]
    [InlineData("sharpvisor vm st", 2, "start stop")]
    [InlineData("sharpvisor help vm re", 3, "resume reboot restore")]
    [InlineData("sharpvisor run --ro", 2, "")]
    [InlineData("sharpvisor run --r", 2, "--restore --rng")]
    [InlineData("sharpvisor run --rn", 2, "--rng")]
    [InlineData("sharpvisor se", 1, "serve")]
    public async Task BashCompletesCommandsSubcommandsAndOptions(string line, int word, string expected)
    {
        var script = await SharpvisorProcess.RunAsync(["completion", "bash"]);
        Assert.True(script.ExitCode == 0, script.ToString());
        var file = Path.Combine(Path.GetTempPath(), $"sv-completion-{Guid.NewGuid():N}.sh");
        await File.WriteAllTextAsync(file, script.Stdout);
        try
        {
            var words = string.Join(' ', line.Split(' ').Select(w => $"'{w}'"));
            // Run from an empty directory, so the file-name fallback offers nothing.
            var empty = Directory.CreateTempSubdirectory("sv-comp-").FullName;
            var bash = await ProcessRunner.RunAsync("bash",
                ["-c", $"cd '{empty}' && source '{file}' && COMP_WORDS=({words}) && COMP_CWORD={word} && _sharpvisor && echo \"${{COMPREPLY[*]}}\""]);
            Directory.Delete(empty);
            Assert.True(bash.ExitCode == 0, bash.ToString());
            Assert.Equal(expected + "\n", bash.Stdout);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
