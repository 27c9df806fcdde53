namespace Sharpvisor.Ui.Tests;

/// <summary>A daemon a page signs in to: in this process (<see cref="UiDaemon"/>) or a process of its own (<see cref="UserSpaceDaemon"/>).</summary>
public interface IUiDaemon : IAsyncDisposable
{
    /// <summary>The web UI's address with the token in its fragment.</summary>
    string UiUrl { get; }

    /// <summary>A client with the token, for what the test does behind the page's back.</summary>
    HttpClient Http { get; }
}
