// Stand-in for the WorkCenter jar in the cluster lab (the real jar is the customer's).
// It proves what the installer controls: the unit's java -jar command line, and the config file it
// points to. It reads WorkCenter-app.yml with its own (small, independent of Python) YAML reader
// and answers HTTP only when the file would let the real app cluster:
//   workcenter.cluster.enable is true, and workcenter.cluster.members holds this node's own IP
//   and at least one other (the other app node).
// Otherwise it prints why on stderr and exits 3 without listening. Port: server.port (Spring
// Boot's default 8080 when absent). GET / answers JSON: this node, its peers, and every scalar
// key of the file as it read them (keys named *password* masked), for scripts/lab/appcheck.py
// to compare with what PyYAML reads.
import com.sun.net.httpserver.HttpServer;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.ArrayDeque;
import java.util.Collections;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

public class WorkCenterStandin {
    /** "a.b.c" -> String (scalar) or List<String> (block sequence of scalars). */
    static Map<String, Object> read(List<String> lines) {
        Map<String, Object> flat = new LinkedHashMap<>();
        Deque<int[]> indents = new ArrayDeque<>();  // indentation of each open mapping key
        Deque<String> paths = new ArrayDeque<>();
        int n = 0;
        for (String raw : lines) {
            n++;
            String line = stripComment(raw);
            if (line.trim().isEmpty()) continue;
            int indent = 0;
            while (indent < line.length() && line.charAt(indent) == ' ') indent++;
            String content = line.trim();
            boolean item = content.equals("-") || content.startsWith("- ");
            while (!indents.isEmpty() && (item ? indents.peek()[0] > indent : indents.peek()[0] >= indent)) {
                indents.pop();
                paths.pop();
            }
            String parent = paths.isEmpty() ? "" : paths.peek();
            if (item) {
                Object cur = flat.get(parent);
                @SuppressWarnings("unchecked")
                List<String> list = cur instanceof List ? (List<String>) cur : new ArrayList<>();
                list.add(scalar(content.substring(1).trim(), n));
                flat.put(parent, list);
                continue;
            }
            int colon = keyEnd(content);
            if (colon < 0) throw new IllegalArgumentException("line " + n + ": not 'key: value'");
            String key = content.substring(0, colon).trim();
            if (key.startsWith("'") || key.startsWith("\"")) key = scalar(key, n);
            String rest = content.substring(colon + 1).trim();
            String path = parent.isEmpty() ? key : parent + "." + key;
            if (rest.isEmpty()) {
                indents.push(new int[] {indent});
                paths.push(path);
                flat.put(path, null);
            } else {
                flat.put(path, scalar(rest, n));
            }
        }
        return flat;
    }

    /** The ':' that ends a mapping key (followed by a blank or the line end), outside quotes. */
    static int keyEnd(String s) {
        char q = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (q != 0) {
                if (c == q) q = 0;
            } else if (c == '\'' || c == '"') {
                if (i == 0) q = c;
            } else if (c == ':' && (i + 1 == s.length() || s.charAt(i + 1) == ' ')) {
                return i;
            }
        }
        return -1;
    }

    /** The line without a comment: '#' at the start or after a blank, outside quotes. */
    static String stripComment(String s) {
        char q = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (q == '\'') {
                if (c == '\'') {
                    if (i + 1 < s.length() && s.charAt(i + 1) == '\'') i++;
                    else q = 0;
                }
            } else if (q == '"') {
                if (c == '\\') i++;
                else if (c == '"') q = 0;
            } else if ((c == '\'' || c == '"') && (i == 0 || " -:[{,".indexOf(s.charAt(i - 1)) >= 0)) {
                q = c;
            } else if (c == '#' && (i == 0 || s.charAt(i - 1) == ' ')) {
                return s.substring(0, i);
            }
        }
        return s;
    }

    static String scalar(String s, int n) {
        if (s.startsWith("'")) {
            if (s.length() < 2 || !s.endsWith("'")) throw new IllegalArgumentException("line " + n + ": open quote");
            return s.substring(1, s.length() - 1).replace("''", "'");
        }
        if (s.startsWith("\"")) {
            StringBuilder b = new StringBuilder();
            for (int i = 1; i < s.length() - 1; i++) {
                char c = s.charAt(i);
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                char e = s.charAt(++i);
                switch (e) {
                    case 'n': b.append('\n'); break;
                    case 't': b.append('\t'); break;
                    case 'u': b.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16)); i += 4; break;
                    default: b.append(e);
                }
            }
            return b.toString();
        }
        return s;
    }

    static String json(Object o) {
        if (o == null) return "null";
        if (o instanceof List) {
            List<String> parts = new ArrayList<>();
            for (Object x : (List<?>) o) parts.add(json(x));
            return "[" + String.join(", ", parts) + "]";
        }
        if (o instanceof Map) {
            List<String> parts = new ArrayList<>();
            for (Map.Entry<?, ?> en : ((Map<?, ?>) o).entrySet()) parts.add(json(en.getKey()) + ": " + json(en.getValue()));
            return "{" + String.join(", ", parts) + "}";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : o.toString().toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static void refuse(String why) {
        System.err.println("WorkCenter stand-in: not starting: " + why);
        System.exit(3);
    }

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
        Map<String, Object> flat;
        try {
            flat = read(Files.readAllLines(Paths.get(conf), StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            refuse(conf + ": " + e.getMessage());
            return;
        }
        TreeSet<String> local = new TreeSet<>();
        for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            for (InetAddress a : Collections.list(nif.getInetAddresses())) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress()) local.add(a.getHostAddress());
            }
        }
        Object enable = flat.get("workcenter.cluster.enable");
        Object m = flat.get("workcenter.cluster.members");
        List<String> members = new ArrayList<>();
        if (m instanceof List) for (Object x : (List<?>) m) members.add(x.toString());
        List<String> self = new ArrayList<>();
        List<String> peers = new ArrayList<>();
        for (String ip : members) (local.contains(ip) ? self : peers).add(ip);
        if (!"true".equals(enable)) refuse("workcenter.cluster.enable is " + enable + ", not true");
        if (self.isEmpty()) refuse("workcenter.cluster.members " + members + " do not include this node " + local);
        if (peers.isEmpty()) refuse("workcenter.cluster.members " + members + " include no other app node");
        Object p = flat.get("server.port");
        int port = p == null ? 8080 : Integer.parseInt(p.toString());
        Map<String, Object> config = new LinkedHashMap<>();
        for (Map.Entry<String, Object> en : flat.entrySet()) {
            if (en.getValue() == null) continue;
            config.put(en.getKey(), en.getKey().toLowerCase().contains("password") ? "********" : en.getValue());
        }
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("self", self);
        answer.put("peers", peers);
        answer.put("config", config);
        byte[] body = (json(answer) + "\n").getBytes(StandardCharsets.UTF_8);
        HttpServer s = HttpServer.create(new InetSocketAddress(port), 16);
        s.createContext("/", ex -> {
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        s.start();
        System.out.println("WorkCenter stand-in listening on " + port + ", cluster peers " + peers);
    }
}
