def test_smoke(run_import, tenant):
    csv = "Nome;Telefone 1;Celular;E-mail;CPF/CNPJ;Situação\n" \
          "Ana;(11) 98765-4321;;ana@x.com;529.982.247-25;ativo\n" \
          "Bia;11 3333-4444;(11)98765-4321;;;\n" \
          "Caio;abc;;;;\n" \
          "Duda;21999998888;;duda@x.com;123;\n"
    r = run_import(csv, source="legado")
    print(r)
    assert r["read"] == 4
    r2 = run_import(csv.replace("Duda;", "Duda Silva;"), source="legado")
    print(r2)
