from nb_mlops.cli import console

console()
