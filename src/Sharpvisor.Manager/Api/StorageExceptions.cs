using Sharpvisor.Manager.Store;

namespace Sharpvisor.Manager.Api;

/// <summary>No pool, or no image in the pool, of this name (the API's 404).</summary>
public sealed class UnknownStorageException(string message) : VmStoreException(message);

/// <summary>An image that exists already, is in use, or is written by a running VM (the API's 409).</summary>
public sealed class ImageConflictException(string message) : VmConflictException(message);

/// <summary>An upload larger than its pool has room for (the API's 413).</summary>
public sealed class ImageTooLargeException(string message) : VmStoreException(message);
