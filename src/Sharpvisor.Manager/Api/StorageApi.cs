using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Api;

/// <summary>/api/v1/pools: the storage pools and their images (list, create, upload, download, delete).</summary>
public static class StorageApi
{
    public static IEndpointRouteBuilder MapStorageApi(this IEndpointRouteBuilder endpoints)
    {
        var pools = endpoints.MapGroup("/api/v1/pools").WithTags("Storage");
        pools.MapGet("/", ListPools).WithName("ListPools");
        pools.MapGet("/{pool}/images", ListImages).WithName("ListImages");
        pools.MapPost("/{pool}/images", CreateImage).WithName("CreateImage");
        pools.MapGet("/{pool}/images/{name}", GetImage).WithName("GetImage");
        pools.MapPut("/{pool}/images/{name}", UploadImage).WithName("UploadImage").Accepts<Stream>("application/octet-stream");
        pools.MapGet("/{pool}/images/{name}/content", DownloadImage).WithName("DownloadImage");
        pools.MapDelete("/{pool}/images/{name}", DeleteImage).WithName("DeleteImage");
        return endpoints;
    }

    public static Ok<IReadOnlyList<PoolResource>> ListPools([FromServices] StorageOperations storage) => TypedResults.Ok(storage.ListPools());

    public static async Task<Ok<IReadOnlyList<ImageResource>>> ListImages([FromRoute] string pool, [FromServices] StorageOperations storage, CancellationToken cancellationToken) =>
        TypedResults.Ok(await storage.ListImagesAsync(pool, cancellationToken).ConfigureAwait(false));

    public static async Task<Ok<ImageResource>> GetImage([FromRoute] string pool, [FromRoute] string name, [FromServices] StorageOperations storage, CancellationToken cancellationToken) =>
        TypedResults.Ok(await storage.GetImageAsync(pool, name, cancellationToken).ConfigureAwait(false));

    /// <summary>A new empty image (qcow2 or raw), or a qcow2 overlay over another image of the pool; 201 with it.</summary>
    public static async Task<Created<ImageResource>> CreateImage([FromRoute] string pool, [FromBody] ImageSpec spec, [FromServices] StorageOperations storage, CancellationToken cancellationToken)
    {
        var image = await storage.CreateAsync(pool, spec, cancellationToken).ConfigureAwait(false);
        return TypedResults.Created(Location(image), image);
    }

    /// <summary>The body, as it is, becomes the image <c>name</c> (raw or qcow2: its first bytes say); 201 with it.</summary>
    public static async Task<Created<ImageResource>> UploadImage([FromRoute] string pool, [FromRoute] string name, HttpContext context, [FromServices] StorageOperations storage)
    {
        // Images are gigabytes: the server's default body limit (30 MB) is for JSON; the pool's free room bounds this one.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }

        var image = await storage.UploadAsync(pool, name, context.Request.Body, context.Request.ContentLength, context.RequestAborted).ConfigureAwait(false);
        return TypedResults.Created(Location(image), image);
    }

    /// <summary>The image's bytes (ranges honoured, so a download can resume); 409 while a running VM writes it.</summary>
    public static async Task<PhysicalFileHttpResult> DownloadImage([FromRoute] string pool, [FromRoute] string name, [FromServices] StorageOperations storage, CancellationToken cancellationToken)
    {
        var path = await storage.DownloadPathAsync(pool, name, cancellationToken).ConfigureAwait(false);
        return TypedResults.PhysicalFile(path, "application/octet-stream", fileDownloadName: name, enableRangeProcessing: true);
    }

    public static async Task<NoContent> DeleteImage([FromRoute] string pool, [FromRoute] string name, [FromServices] StorageOperations storage, CancellationToken cancellationToken)
    {
        await storage.DeleteAsync(pool, name, cancellationToken).ConfigureAwait(false);
        return TypedResults.NoContent();
    }

    private static string Location(ImageResource image) => $"/api/v1/pools/{image.Pool}/images/{image.Name}";
}
