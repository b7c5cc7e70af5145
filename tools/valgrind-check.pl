#!/usr/bin/perl
# Reads the valgrind logs of a "make test-valgrind" run and fails when an
# error or a definite/indirect leak has a stack frame in the module
# (ngx_olla_dmr_*, olla_*, ngx_olla_dmr_module.so).  Reports from nginx
# itself or the libraries are counted and listed, not fatal.

use strict;
use warnings;

my $dir = shift // 'build/valgrind';
my @logs = glob("$dir/*.log");

my ($ours, $theirs, @shown) = (0, 0);

for my $log (@logs) {
    open my $fh, '<', $log or next;
    local $/ = undef;
    my $text = <$fh>;
    close $fh;

    # records are separated by "==PID== " followed by an empty line
    for my $rec (split /^==\d+==\s*\n/m, $text) {
        next unless $rec =~ /^==\d+== (Invalid|Conditional|Use of uninitialised|Syscall param|Mismatched|Source and destination|\d[\d,]* bytes in [\d,]+ blocks are (definitely|indirectly) lost|Argument|Jump to)/m;

        if ($rec =~ /\b(ngx_olla_dmr\w*|olla_\w+)\b|ngx_olla_dmr_module\.so/) {
            $ours++;
            push @shown, "$log:\n$rec";

        } else {
            $theirs++;
        }
    }
}

print @shown ? join("\n", @shown) . "\n" : '';
printf "valgrind: %d logs, %d reports in the module, %d elsewhere\n",
       scalar @logs, $ours, $theirs;

exit($ours ? 1 : 0);
