// Stand-in for the WorkCenter jar in the cluster lab (the real jar is the customer's).
// It proves what the installer controls: the unit's java -jar command line, the config
// file it points to (must exist and be readable), and the HTTP port the health phase probes.
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Paths;

public class WorkCenterStandin {
    public static void main(String[] args) throws Exception {
        String conf = null;
        for (String a : args) {
            if (a.startsWith("--spring.config.additional-location=file:")) {
                conf = a.substring(a.indexOf("file:") + 5);
            }
        }
        if (conf == null || !Files.isReadable(Paths.get(conf))) {
            System.err.println("WorkCenter stand-in: config not readable: " + conf);
            System.exit(2);
        }
        int port = 8080;
        for (String line : Files.readAllLines(Paths.get(conf))) {
            String t = line.trim();
            if (t.startsWith("port:")) {
                port = Integer.parseInt(t.substring(5).trim().replace("\"", ""));
                break;
            }
        }
        HttpServer s = HttpServer.create(new InetSocketAddress(port), 16);
        byte[] body = ("WorkCenter stand-in; config " + conf + "\n").getBytes("UTF-8");
        s.createContext("/", ex -> {
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        s.start();
        System.out.println("WorkCenter stand-in listening on " + port);
    }
}
