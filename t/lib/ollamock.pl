#!/usr/bin/perl

# Run the OllaMock mock LLM backend (t/lib/OllaMock.pm) in the foreground,
# e.g. as a stand-in backend while trying a configuration by hand:
#
#   perl t/lib/ollamock.pl dmr-a:12434 ollama-1:11434
#   perl t/lib/ollamock.pl --state /tmp/mock dmr-a dmr-b   # free ports
#
# Prints "NAME PORT" per mock, then serves until interrupted.  The API
# (X-Mock-* request headers, /_mock/ controls) is described at the top of
# OllaMock.pm.

use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Getopt::Long;
use OllaMock;

my ($state, $root, $help);
GetOptions('state=s' => \$state, 'root=s' => \$root, 'help' => \$help)
    or usage(1);
usage(0) if $help;
usage(1) unless @ARGV;

sub usage {
    print STDERR "usage: $0 [--state DIR] [--root DIR] NAME[:PORT] ...\n";
    exit shift;
}

my (@names, @ports);
for my $arg (@ARGV) {
    my ($name, $port) = $arg =~ /^([^:]+)(?::(\d+))?$/ or usage(1);
    push @names, $name;
    push @ports, $port || 0;
}

if ($state) {
    mkdir $state unless -d $state;
}

my @got = OllaMock::start(
    names => \@names,
    ports => \@ports,
    ($state ? (state_dir => $state) : ()),
    ($root ? (root => $root) : ()),
);

$| = 1;
print "$names[$_] $got[$_]\n" for 0 .. $#names;
print "state $OllaMock::StateDir\n";

$SIG{INT} = $SIG{TERM} = sub { exit 0 };    # END in OllaMock stops the server
waitpid($OllaMock::ServerPid, 0);
exit 0;
