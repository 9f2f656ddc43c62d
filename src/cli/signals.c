/* Signals of the `shardenc` command. SIGINT, SIGTERM and SIGUSR1 (the
 * warning Slurm sends before the time limit: launch/slurm/embed.sbatch) ask
 * the running job to stop after the batch in hand, journal what is durable
 * and exit 3 (resumable); a second signal ends the process at once (exit
 * 128 + signal; the journal still holds every batch made durable). */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    if (g_stop) {
        static const char msg[] = "shardenc: second signal, stopping now\n";
        ssize_t k = write(2, msg, sizeof msg - 1);
        (void)k;
        _exit(128 + sig);
    }
    g_stop = sig;
}

const volatile sig_atomic_t *se_cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    g_stop = 0;
    return &g_stop;
}
