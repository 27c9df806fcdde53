/* reboot.c - asks for a machine reset through the i8042 controller, as Linux's
 * "reboot=k" does. The VMM stops or restarts the VM; if the request is
 * ignored, the scenario fails instead of hanging. */
#include "guest.h"

#define I8042_COMMAND_PORT 0x64
#define I8042_PULSE_RESET  0xfe

const char *run_reboot(void)
{
    out("reboot: requesting reset through the i8042\n");
    outb(I8042_COMMAND_PORT, I8042_PULSE_RESET);
    return "reset request was ignored";
}
