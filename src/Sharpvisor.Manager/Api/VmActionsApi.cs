using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Sharpvisor.Api;

namespace Sharpvisor.Manager.Api;

/// <summary>/api/v1/vms/{vm}/start, stop, kill, pause, resume, reboot: each answers with the VM once the action is done.</summary>
public static class VmActionsApi
{
    public const int DefaultStopTimeoutSeconds = 10;
    public const int MaxStopTimeoutSeconds = 300;

    public static IEndpointRouteBuilder MapVmActionsApi(this IEndpointRouteBuilder endpoints)
    {
        var vm = endpoints.MapGroup("/api/v1/vms/{vm}").WithTags("VM actions");
        vm.MapPost("/start", StartVm).WithName("StartVm");
        vm.MapPost("/stop", StopVm).WithName("StopVm");
        vm.MapPost("/kill", KillVm).WithName("KillVm");
        vm.MapPost("/pause", PauseVm).WithName("PauseVm");
        vm.MapPost("/resume", ResumeVm).WithName("ResumeVm");
        vm.MapPost("/reboot", RebootVm).WithName("RebootVm");
        return endpoints;
    }

    public static async Task<Ok<VmResource>> StartVm([FromRoute] string vm, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.StartAsync(vm).ConfigureAwait(false));

    public static async Task<Ok<VmResource>> StopVm([FromRoute] string vm, [FromQuery] int? timeout, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.StopAsync(vm, StopTimeout(timeout)).ConfigureAwait(false));

    public static async Task<Ok<VmResource>> KillVm([FromRoute] string vm, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.KillAsync(vm).ConfigureAwait(false));

    public static async Task<Ok<VmResource>> PauseVm([FromRoute] string vm, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.PauseAsync(vm).ConfigureAwait(false));

    public static async Task<Ok<VmResource>> ResumeVm([FromRoute] string vm, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.ResumeAsync(vm).ConfigureAwait(false));

    public static async Task<Ok<VmResource>> RebootVm([FromRoute] string vm, [FromQuery] int? timeout, [FromServices] VmOperations vms) =>
        TypedResults.Ok(await vms.RebootAsync(vm, StopTimeout(timeout)).ConfigureAwait(false));

    private static TimeSpan StopTimeout(int? seconds) => seconds switch
    {
        null => TimeSpan.FromSeconds(DefaultStopTimeoutSeconds),
        >= 0 and <= MaxStopTimeoutSeconds => TimeSpan.FromSeconds(seconds.Value),
        _ => throw new ApiValidationException("timeout", $"must be between 0 and {MaxStopTimeoutSeconds} seconds"),
    };
}
