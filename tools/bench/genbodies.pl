#!/usr/bin/perl
# genbodies.pl DIR: the request bodies of `make bench`, written to DIR.
#
#   anth-1k.json   anth-50k.json   anth-1m.json     Anthropic Messages API
#   oai-1k.json    oai-50k.json    oai-1m.json      OpenAI chat completions
#   anth-stream.json  oai-stream.json               the 1 KB ones, streaming
#   anth-code-1k.json  anth-code-50k.json  anth-code-1m.json   (and oai-code-*)
#                  the same shapes dense in quotes and escapes, as
#                  code-heavy agent prompts are: source with string
#                  literals and regular expressions, JSON documents and
#                  diffs inside strings (\" \\ \n \t every few bytes), and
#                  every non-ASCII character as a \u escape (surrogate pairs
#                  for emoji), as clients that write ASCII-only JSON send it
#
# The 50 KB Anthropic body is shaped like a Claude Code request: a system
# prompt given as text blocks (~15 KB), 12 tools with JSON schemas, and a
# few turns with tool_use / tool_result blocks.  The 1 MB body is the same
# with a long session (file contents, command output) after it.  The OpenAI
# bodies carry the same content in OpenAI's shape (system message,
# function tools, tool_calls, tool messages).  Every body is exactly its
# nominal size (1024, 51200, 1048576 bytes), has "model":"ai/smollm2"
# first, and mixes in escapes (\n, \", \\) and UTF-8 like real prompts.
# Deterministic: the same bytes on every run.

use strict;
use warnings;
use Encode ();

my $dir = shift or die "usage: genbodies.pl DIR\n";
-d $dir or mkdir $dir or die "$dir: $!\n";

# ---------------------------------------------------------------- JSON
# objects are ['O', k1, v1, k2, v2, ...] so the key order is ours

sub O { return ['O', @_] }

sub enc {
    my ($v) = @_;
    if (ref $v eq 'ARRAY' && @$v && defined $v->[0] && !ref $v->[0]
        && $v->[0] eq 'O' && @$v % 2 == 1)
    {
        my @kv = @$v[1 .. $#$v];
        my @out;
        while (@kv) {
            my ($k, $x) = splice(@kv, 0, 2);
            push @out, enc_str($k) . ':' . enc($x);
        }
        return '{' . join(',', @out) . '}';
    }
    if (ref $v eq 'ARRAY') {
        return '[' . join(',', map { enc($_) } @$v) . ']';
    }
    if (ref $v eq 'SCALAR') {                # \1 true, \0 false
        return $$v ? 'true' : 'false';
    }
    return 'null' unless defined $v;
    return $v if $v =~ /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/;
    return enc_str($v);
}

my $ascii = 0;                      # non-ASCII as \u escapes (code bodies)

sub enc_str {
    my ($s) = @_;
    $s =~ s/(["\\])/\\$1/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/([\x00-\x1f])/sprintf("\\u%04x", ord $1)/ge;
    $s =~ s/([\xc0-\xf7][\x80-\xbf]+)/uesc($1)/ge if $ascii;
    return "\"$s\"";
}

sub uesc {                         # one UTF-8 sequence as \uXXXX (pairs)
    my ($u) = @_;
    my $cp = ord(Encode::decode('UTF-8', $u));
    return sprintf("\\u%04x", $cp) if $cp < 0x10000;
    $cp -= 0x10000;
    return sprintf("\\u%04x\\u%04x", 0xd800 + ($cp >> 10), 0xdc00 + ($cp & 0x3ff));
}

# ---------------------------------------------------------------- text
# a small LCG: the same text everywhere

my $seed = 20250607;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed % $_[0] }

my @words = qw(the model request endpoint stream token latency balancer
    health check profile upstream nginx worker buffer response header
    client server message tool result function schema property string
    number array object file path line code test build error value key
    list map cache config module route proxy json parse scan read write
    open close event chunk delta content system user assistant prompt
    context window budget retry timeout limit queue shared memory zone);

sub sentence {
    my $n = 6 + rnd(12);
    my @w = map { $words[rnd(scalar @words)] } 1 .. $n;
    $w[0] = ucfirst $w[0];
    my $s = join ' ', @w;
    $s .= (' "' . $words[rnd(scalar @words)] . '"') if rnd(5) == 0;
    $s .= ' — é ü ✓' if rnd(9) == 0;
    return $s . '.';
}

sub para { my $n = $_[0] // (3 + rnd(5)); return join ' ', map { sentence() } 1 .. $n }

sub text_of {                      # about $len bytes of prose, in paragraphs
    my ($len) = @_;
    my $t = '';
    $t .= para() . "\n\n" while length($t) < $len;
    $t = substr($t, 0, $len);
    $t =~ s/[\x80-\xff]+\z//;           # no UTF-8 sequence cut in two
    return $t;
}

sub code_of {                      # about $len bytes of C-ish source
    my ($len) = @_;
    my $t = '';
    my $i = 0;
    while (length($t) < $len) {
        $i++;
        $t .= sprintf("%5d\tstatic ngx_int_t\n%5d\tolla_%s_%d(ngx_http_request_t *r, size_t len)\n"
                      . "%5d\t{\n%5d\t    if (len > %d && r->%s != NULL) {\n"
                      . "%5d\t        return ngx_olla_%s(r, \"%s\\n\", len);\n"
                      . "%5d\t    }\n%5d\t    return NGX_OK;\n%5d\t}\n%5d\t\n",
                      $i * 10, $i * 10 + 1, $words[rnd(scalar @words)], $i,
                      $i * 10 + 2, $i * 10 + 3, rnd(4096), $words[rnd(scalar @words)],
                      $i * 10 + 4, $words[rnd(scalar @words)], $words[rnd(scalar @words)],
                      $i * 10 + 5, $i * 10 + 6, $i * 10 + 7, $i * 10 + 8);
    }
    return substr($t, 0, $len);
}

# about $len bytes of what coding agents send around: source with string
# literals and regular expressions, JSON documents, diffs, Windows paths,
# non-ASCII text; nearly every line has quotes or backslashes to escape
sub dense_of {
    my ($len) = @_;
    my $t = '';
    my $i = 0;
    while (length($t) < $len) {
        my $w = $words[rnd(scalar @words)];
        my $v = $words[rnd(scalar @words)];
        my $n = rnd(9000);
        $i++;
        my $k = $i % 6;
        if ($k == 0) {
            $t .= "    fprintf(stderr, \"olla: %s \\\"%s\\\" failed: %d\\n\", \"$w\", r->$v, $n);\n"
                . "    if (strcmp(buf, \"\\\\\\\\?\\\\\") == 0) { return \"$v\\t$w\"; }\n";
        } elsif ($k == 1) {
            $t .= "    m = re.match(r\"^\\s*(\\d+)\\s+\\\"([^\\\"]*)\\\"\\s*\$\", line)  # $w\n"
                . "    print(f\"{m.group(1)!r}: '$v' → ✓ “$w” naïve café 🚀\")\n";
        } elsif ($k == 2) {
            $t .= "{\n  \"name\": \"olla-$w\",\n  \"version\": \"1.$n.0\",\n"
                . "  \"scripts\": {\"test\": \"make test && echo \\\"ok: $v\\\"\", "
                . "\"lint\": \"eslint 'src/**/*.js'\"},\n"
                . "  \"config\": \"{\\\"key\\\": \\\"$w\\\", \\\"n\\\": $n}\"\n}\n";
        } elsif ($k == 3) {
            $t .= "@@ -$n,7 +$n,8 @@ static ngx_int_t\n"
                . "-\tngx_log_error(NGX_LOG_ERR, log, 0, \"$w: \\\"%V\\\"\", &name);\n"
                . "+\tngx_log_error(NGX_LOG_ERR, log, 0, \"$v: \\\"%V\\\" (%d)\", &name, rc);\n";
        } elsif ($k == 4) {
            $t .= "PS C:\\Users\\dev\\src\\olla\\$w> type .\\$v\\config.json | findstr \"\\\"$w\\\"\"\n"
                . "\t\"path\": \"C:\\\\Users\\\\dev\\\\$v\",\t\"ok\": true\n";
        } else {
            $t .= "  const s = `\${a}\\n\${b}`.replace(/\\\\(.)/g, \"\$1\"); // “$w” — é ü ✓ 日本語\n"
                . "  expect(JSON.parse('{\"$v\":\"\\\\u00e9\"}')).toEqual({$v: \"é\"});\n";
        }
    }
    $t = substr($t, 0, $len);
    $t =~ s/[\x80-\xff]+\z//;           # no UTF-8 sequence cut in two
    return $t;
}

# ---------------------------------------------------------------- tools

my @tool_names = qw(Task Bash Glob Grep LS Read Edit MultiEdit Write
                    WebFetch TodoWrite WebSearch);

sub prop { my ($type, $desc) = @_; return O(type => $type, description => $desc) }

sub tool_schema {
    my ($i) = @_;
    my @props;
    my $np = 2 + $i % 4;
    for my $k (1 .. $np) {
        my $name = $words[($i * 7 + $k * 3) % @words] . "_$k";
        if ($k == 3) {
            push @props, $name, O(type => 'array', description => sentence(),
                                  items => O(type => 'string'));
        } elsif ($k == 4) {
            push @props, $name, O(type => 'object', description => sentence(),
                properties => O(old_string => prop('string', sentence()),
                                new_string => prop('string', sentence()),
                                replace_all => O(type => 'boolean', default => \0,
                                                 description => sentence())),
                required => ['old_string', 'new_string'],
                additionalProperties => \0);
        } else {
            push @props, $name, prop($k == 2 ? 'number' : 'string', sentence());
        }
    }
    my @req = map { $props[2 * $_] } 0 .. 1;
    return O(type => 'object', properties => O(@props), required => \@req,
             additionalProperties => \0,
             '$schema' => 'http://json-schema.org/draft-07/schema#');
}

my @tools = map {
    [ $tool_names[$_], text_of(800 + 100 * ($_ % 5)), tool_schema($_) ]
} 0 .. $#tool_names;

# ---------------------------------------------------------------- turns
# a session: [user text] then (assistant text + tool call, tool result)*

sub turn {
    my ($k, $size, $dense) = @_;
    my $tool = $tool_names[$k % @tool_names];
    return {
        id     => sprintf("toolu_01%022d", $k),
        tool   => $tool,
        say    => sentence() . ' ' . sentence(),
        input  => O(file_path => "/work/src/olla_$words[$k % @words].c",
                    command => "grep -n \"$words[($k + 5) % @words]\" src/*.c",
                    limit => 200 + $k),
        result => ($dense ? dense_of($size)
                   : $k % 3 == 0 ? text_of($size) : code_of($size)),
    };
}

my $reminder = "<system-reminder>\n" . para(3) . "\n</system-reminder>";

sub anth_msgs {
    my ($first, @turns) = @_;
    my @m = (O(role => 'user', content => [
                 O(type => 'text', text => $reminder),
                 O(type => 'text', text => $first)]));
    for my $t (@turns) {
        push @m, O(role => 'assistant', content => [
                     O(type => 'text', text => $t->{say}),
                     O(type => 'tool_use', id => $t->{id}, name => $t->{tool},
                       input => $t->{input})]);
        push @m, O(role => 'user', content => [
                     O(type => 'tool_result', tool_use_id => $t->{id},
                       content => $t->{result})]);
    }
    return @m;
}

sub oai_msgs {
    my ($system, $first, @turns) = @_;
    my @m;
    push @m, O(role => 'system', content => $system) if defined $system;
    push @m, O(role => 'user', content => $first);
    for my $t (@turns) {
        push @m, O(role => 'assistant', content => $t->{say},
                   tool_calls => [O(id => $t->{id}, type => 'function',
                       function => O(name => $t->{tool},
                                     arguments => enc($t->{input})))]);
        push @m, O(role => 'tool', tool_call_id => $t->{id},
                   content => $t->{result});
    }
    return @m;
}

# ---------------------------------------------------------------- bodies

my $system_intro = "You are Claude Code, Anthropic's official CLI for Claude.";
my $system_long  = text_of(15000);

sub anth_body {
    my (%a) = @_;
    my @o = (model => 'ai/smollm2', max_tokens => ($a{tools} ? 32000 : 256));
    if ($a{tools}) {
        push @o, system => [O(type => 'text', text => $system_intro),
                            O(type => 'text', text => $system_long,
                              cache_control => O(type => 'ephemeral'))];
    }
    push @o, messages => [anth_msgs($a{first}, @{ $a{turns} || [] })];
    if ($a{tools}) {
        push @o, tools => [map { O(name => $_->[0], description => $_->[1],
                                   input_schema => $_->[2]) } @tools];
        push @o, metadata => O(user_id => 'user_bench_account_0000_session_0000');
    }
    push @o, temperature => 1;
    push @o, stream => \1 if $a{stream};
    return O(@o);
}

sub oai_body {
    my (%a) = @_;
    my @o = (model => 'ai/smollm2');
    push @o, messages => [oai_msgs($a{tools} ? "$system_intro\n\n$system_long" : undef,
                                   $a{first}, @{ $a{turns} || [] })];
    if ($a{tools}) {
        push @o, tools => [map { O(type => 'function',
                                   function => O(name => $_->[0],
                                                 description => $_->[1],
                                                 parameters => $_->[2])) } @tools];
    }
    push @o, max_tokens => ($a{tools} ? 32000 : 256), temperature => 1;
    push @o, stream => \1 if $a{stream};
    return O(@o);
}

# the first user text is grown (with ASCII) until the body has $size bytes;
# with dense => 1, with dense text as far as its escaped form fits, then ASCII
sub sized {
    my ($make, $size, %a) = @_;
    my $first = 'Summarise what this module does. ';
    my $len = length(enc($make->(%a, first => $first)));
    die "body already over $size bytes ($len)\n" if $len > $size;
    my $pad = '';
    if ($a{dense}) {
        my $d = dense_of($size - $len);
        my ($lo, $hi) = (0, length $d);
        while ($lo < $hi) {                 # the longest prefix that fits
            my $mid = int(($lo + $hi + 1) / 2);
            if (length(enc_str(substr($d, 0, $mid))) - 2 <= $size - $len) {
                $lo = $mid;
            } else {
                $hi = $mid - 1;
            }
        }
        $pad = substr($d, 0, $lo);
        $pad =~ s/[\xc0-\xff][\x80-\xbf]*\z//;   # no sequence cut in two
    }
    my $plain = text_of($size - $len - (length(enc_str($pad)) - 2));
    $plain =~ s/[^\x20-\x7e]/x/g;          # 1 byte each, no escapes
    $plain =~ s/["\\]/x/g;
    $pad .= $plain;
    $pad .= 'x' x ($size - length(enc($make->(%a, first => $first . $pad))));
    my $json = enc($make->(%a, first => $first . $pad));
    die "size mismatch: " . length($json) . " != $size\n" if length($json) != $size;
    return $json;
}

my @short = map { turn($_, 600 + rnd(900)) } 1 .. 3;
my @long;
{
    # enough turns for 1 MB: file reads and command output of 2-12 KB
    my $total = 0;
    my $k = 10;
    while ($total < 900_000) {
        my $t = turn($k++, 2000 + rnd(10000));
        $total += length($t->{result}) + 400;
        push @long, $t;
    }
}

my %out;
for my $api (['anth', \&anth_body], ['oai', \&oai_body]) {
    my ($p, $f) = @$api;
    $out{"$p-1k"}     = sized($f, 1024);
    $out{"$p-stream"} = sized($f, 1024, stream => 1);
    $out{"$p-50k"}    = sized($f, 51200, tools => 1, turns => \@short);
    $out{"$p-1m"}     = sized($f, 1048576, tools => 1, turns => [@short, @long]);
}

# the dense sessions (after the others, which stay as they were): tool
# results of code, JSON and diffs only
my (@dshort, @dlong);
{
    my ($total, $k) = (0, 1);
    while ($total < 30_000) {
        my $t = turn($k++, 1500 + rnd(4000), 1);
        $total += length($t->{result}) + 400;
        push @dshort, $t;
    }
    while ($total < 720_000) {
        my $t = turn($k++, 2000 + rnd(10000), 1);
        $total += length($t->{result}) + 400;
        push @dlong, $t;
    }
}

$ascii = 1;
for my $api (['anth', \&anth_body], ['oai', \&oai_body]) {
    my ($p, $f) = @$api;
    $out{"$p-code-1k"}  = sized($f, 1024, dense => 1);
    $out{"$p-code-50k"} = sized($f, 51200, dense => 1, turns => \@dshort);
    $out{"$p-code-1m"}  = sized($f, 1048576, dense => 1,
                                turns => [@dshort, @dlong]);
}

binmode STDOUT;
for my $name (sort keys %out) {
    open my $fh, '>:raw', "$dir/$name.json" or die "$dir/$name.json: $!\n";
    print $fh $out{$name};
    close $fh;
}
print join(' ', map { "$_=" . length($out{$_}) } sort keys %out), "\n";
