namespace Sharpvisor.Display.Rfb;

/// <summary>
/// A DesktopSize or ExtendedDesktopSize pseudo-rectangle: the size, and for the extended one why (0 the server, 1
/// this client's request) and the outcome (0 done, 1 refused by policy).
/// </summary>
internal readonly record struct SizeAnnouncement(bool Extended, int Reason, int Status, int Width, int Height);
