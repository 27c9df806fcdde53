using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.OpenApi;
using Sharpvisor.Api;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Supervisor;
using Sharpvisor.Manager.Ui;

namespace Sharpvisor.Manager.Api;

/// <summary>The daemon's ASP.NET Core application: services, middleware (errors, token, WebSockets) and every route.</summary>
internal static class ManagerApp
{
    public static WebApplication Build(ManagerOptions options, ApiToken token, IVmStore store, VmSupervisor supervisor, EventSignal signal, X509Certificate2? certificate)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(options.Listen, listen =>
        {
            if (certificate is not null)
            {
                listen.UseHttps(certificate);
            }
        }));
        builder.Services.Configure<ConsoleLifetimeOptions>(lifetime => lifetime.SuppressStatusMessages = true);
        // Requests are not logged; failures are, by the exception handler, on one line with the exception.
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware", LogLevel.None);
        // A start failure (address in use) is reported by the caller on one line, not logged with its stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);

        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
            json.SerializerOptions.TypeInfoResolverChain.Insert(1, ProblemJsonContext.Default);
            // The context's own options do not carry over to these: nulls are left out as the contract says.
            json.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            // The daemon only reads request bodies: a number sent as a string ("64") or a field it does not know (a
            // typo like "memoryMB") is refused with a 400 naming it, never silently taken or dropped.
            json.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
            json.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        });
        // A body or query value that does not parse throws, so the exception handler answers it with ProblemDetails.
        builder.Services.Configure<RouteHandlerOptions>(routes => routes.ThrowOnBadRequest = true);
        // Answers without a body (an unknown route, a query value that does not parse) get one, with a one-line detail.
        builder.Services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
            context.ProblemDetails.Detail ??= $"{context.HttpContext.Request.Method} {context.HttpContext.Request.Path}: {context.ProblemDetails.Title ?? "failed"}");
        builder.Services.AddExceptionHandler<ApiExceptionHandler>();
        builder.Services.AddOpenApi("v1", openApi => openApi.AddDocumentTransformer((document, _, _) =>
        {
            // Every /api route needs the daemon's token as "Authorization: Bearer TOKEN": say so, so that a client
            // generator or Swagger UI sends it.
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>(StringComparer.Ordinal);
            document.Components.SecuritySchemes[TokenAuthentication.SchemeName] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "The daemon's token (DATA/token), as Authorization: Bearer TOKEN",
            };
            document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(TokenAuthentication.SchemeName, document)] = [] }];
            return Task.CompletedTask;
        }));

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(token);
        builder.Services.AddSingleton(signal);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(supervisor);
        builder.Services.AddSingleton<VmOperations>();
        builder.Services.AddSingleton<StorageOperations>();
        builder.Services.AddSingleton(services => new MetricsHistory(store, supervisor, options, services.GetRequiredService<ILogger<MetricsHistory>>()));
        builder.Services.AddHostedService(services => services.GetRequiredService<MetricsHistory>());

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });
        app.UseTokenAuthentication();

        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapVmsApi();
        app.MapVmActionsApi();
        app.MapVmSnapshotsApi();
        app.MapVmMigrationApi();
        app.MapVmDisplayApi();
        app.MapEventsApi();
        app.MapConsoleApi();
        app.MapMetricsApi();
        app.MapHostApi();
        app.MapStorageApi();
        app.MapMetricsHistoryApi();
        app.MapUi();
        return app;
    }
}
