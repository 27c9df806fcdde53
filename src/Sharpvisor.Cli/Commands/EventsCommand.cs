using System.Globalization;
using System.Text.Json;
using Sharpvisor.Api;
using Sharpvisor.Cli.Remote;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// <c>sharpvisor events [--vm VM] [--after ID]</c>: follows the daemon's event stream (server-sent events), one line
/// per event, until Ctrl-C. With <c>--json</c> each line is the event's JSON as the daemon sent it.
/// </summary>
internal static class EventsCommand
{
    public static int Execute(string[] args)
    {
        var options = RemoteCommand.Read(args, ["--vm", "--after"], [], positionals: 0);
        var query = new List<string>();
        if (options.Get("--vm") is { } vm)
        {
            query.Add("vm=" + Uri.EscapeDataString(vm));
        }

        if (options.Get("--after") is { } after)
        {
            if (!long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                throw new UsageException($"--after '{after}' is not an event id (a whole number)");
            }

            query.Add("after=" + after);
        }

        var path = "api/v1/events" + (query.Count == 0 ? "" : "?" + string.Join('&', query));
        var json = options.Has(RemoteCommand.JsonFlag);
        return RemoteCommand.Run(async () =>
        {
            using var api = RemoteCommand.Connect(options);
            using var response = await api.OpenStreamAsync(path, CancellationToken.None).ConfigureAwait(false);
            using var body = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
            var names = new VmNames(api);
            await foreach (var data in ServerSentEvents.ReadDataAsync(body).ConfigureAwait(false))
            {
                RemoteCommand.Print(json ? data : await FormatAsync(data, names).ConfigureAwait(false));
            }

            throw api.Unreachable("the event stream ended");
        });
    }

    private static async Task<string> FormatAsync(string data, VmNames names)
    {
        EventResource? e;
        try
        {
            e = JsonSerializer.Deserialize(data, ApiJsonContext.Default.EventResource);
        }
        catch (JsonException)
        {
            e = null;
        }

        return e is null ? data : VmText.Event(e, await names.NameOfAsync(e.VmId).ConfigureAwait(false));
    }

    /// <summary>VM names by id, asked once per VM; a VM that is gone (deleted) shows as its id.</summary>
    private sealed class VmNames(ApiClient api)
    {
        private readonly Dictionary<Guid, string> _names = [];

        public async Task<string> NameOfAsync(Guid id)
        {
            if (!_names.TryGetValue(id, out var name))
            {
                try
                {
                    var vm = await api.SendAsync(HttpMethod.Get, ApiClient.VmPath(id.ToString("D")), ApiJsonContext.Default.VmResource).ConfigureAwait(false);
                    name = vm.Value.Name;
                }
                catch (ApiException)
                {
                    name = id.ToString("D");
                }

                _names[id] = name;
            }

            return name;
        }
    }
}
