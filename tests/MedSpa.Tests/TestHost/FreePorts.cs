using System.Net;
using System.Net.Sockets;

namespace MedSpa.Tests.TestHost;

/// <summary>Loopback ports nobody is listening on, so parallel test hosts (silo, gateway, Kestrel) never collide.</summary>
public static class FreePorts
{
    private static readonly HashSet<int> Handed = [];

    public static int Next()
    {
        lock (Handed)
        {
            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                listener.Stop();
                if (Handed.Add(port))
                {
                    return port;
                }
            }
        }
    }
}
