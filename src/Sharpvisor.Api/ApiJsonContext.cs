using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sharpvisor.Api;

/// <summary>
/// The API's JSON: camelCase, nulls left out, source-generated so the daemon and the CLI stay NativeAOT-clean.
/// The daemon and the CLI share these types, so the two cannot drift.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(VmSpec))]
[JsonSerializable(typeof(VmResource))]
[JsonSerializable(typeof(IReadOnlyList<VmResource>))]
[JsonSerializable(typeof(EventResource))]
[JsonSerializable(typeof(IReadOnlyList<EventResource>))]
[JsonSerializable(typeof(VmMetricsResource))]
[JsonSerializable(typeof(HostResource))]
[JsonSerializable(typeof(HostHistoryResource))]
[JsonSerializable(typeof(VmHistoryResource))]
[JsonSerializable(typeof(ServeInfo))]
[JsonSerializable(typeof(ApiProblem))]
[JsonSerializable(typeof(SnapshotSpec))]
[JsonSerializable(typeof(CloneSpec))]
[JsonSerializable(typeof(MigrateSpec))]
[JsonSerializable(typeof(MigrationResource))]
[JsonSerializable(typeof(SnapshotResource))]
[JsonSerializable(typeof(DisplayResource))]
[JsonSerializable(typeof(IReadOnlyList<SnapshotResource>))]
[JsonSerializable(typeof(PoolResource))]
[JsonSerializable(typeof(IReadOnlyList<PoolResource>))]
[JsonSerializable(typeof(ImageResource))]
[JsonSerializable(typeof(IReadOnlyList<ImageResource>))]
[JsonSerializable(typeof(ImageSpec))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
