# fish completion for kcr.
#
# A thin wrapper around `kcr __complete WORD...`, which prints the
# candidates for the last word from the same command table as --help (git's
# approach). "__file__" and "__dir__" ask for paths, which fish completes.

function __kcr_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l kcr $tokens[1]
    command -q -- $kcr; or set kcr kcr
    set -e tokens[1]

    # "--opt=value": kcr wants "--opt value"; fish replaces the whole token.
    set -l prefix ''
    if string match -qr -- '^--[^=]+=' $cur
        set prefix (string replace -r -- '=.*' '=' $cur)
        set -a tokens (string replace -r -- '=$' '' $prefix)
        set cur (string replace -r -- '^[^=]*=' '' $cur)
    end

    for c in ($kcr __complete $tokens "$cur" 2>/dev/null)
        switch $c
            case __file__
                __fish_complete_path $cur | string replace -r -- '^' "$prefix"
            case __dir__
                __fish_complete_directories $cur | string replace -r -- '^' "$prefix"
            case '*'
                echo $prefix$c
        end
    end
end

complete -c kcr -f -a '(__kcr_complete)'
